"""An output channel that renders every reply for the channel it goes out on.

Actions may mark a reply `visibility="public"` or `"private"` (a public X reply that moves the
conversation to DM, then the DM); anything unmarked goes where the customer wrote. Each connector
subclasses :class:`RenderingOutputChannel` and implements :meth:`deliver`; replay collects instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import OutputChannel

from bot.nlu.personal_data import find_personal_data, mask
from bot.render.base import render
from bot.settings import load_brand


@dataclass(frozen=True)
class Reply:
    """One message exactly as it is sent."""

    public: bool
    text: str


def scrub_public(text: str) -> str:
    """Removes personal data from a text about to be posted in public."""
    brand = load_brand()
    findings = find_personal_data(
        text, account_pattern=brand.account_number_pattern, phone_regions=brand.phone_regions
    )
    # The brand's own contacts are meant to be public.
    findings = [f for f in findings if f.value not in (brand.contacts.phone, brand.contacts.email)]
    return mask(text, findings) if findings else text


def render_reply(channel: str, text: str, *, public: bool, handle: str | None) -> list[Reply]:
    """Renders one bot message for a channel; public text never carries personal data."""
    parts = render(
        channel, text, public=public, handle=handle, scrub=scrub_public if public else None
    )
    return [Reply(public=public, text=part) for part in parts if part]


class RenderingOutputChannel(OutputChannel):
    """Renders replies for `channel`, then hands each part to :meth:`deliver`."""

    def __init__(self, channel: str, *, public: bool, handle: str | None) -> None:
        self.channel = channel
        self.public = public
        self.handle = handle

    @classmethod
    def name(cls) -> str:
        """Rasa's name for the channel (used for channel-specific response variations)."""
        return "rendering"

    def visibility(self, kwargs: dict[str, Any]) -> bool:
        """Whether a reply is public: as marked by the action, else like the customer's message."""
        marked = kwargs.get("visibility")
        if marked in ("public", "private"):
            return marked == "public" and self.public
        return self.public

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Renders and delivers a text reply."""
        for reply in render_reply(
            self.channel, text, public=self.visibility(kwargs), handle=self.handle
        ):
            await self.emit(recipient_id, reply)

    async def emit(self, recipient_id: str, reply: Reply) -> None:
        """Hands one rendered part on; connectors add their bookkeeping around ``deliver``."""
        await self.deliver(recipient_id, reply)

    async def deliver(self, recipient_id: str, reply: Reply) -> None:
        """Sends one rendered part; connectors override this."""
        raise NotImplementedError


class CollectingRenderingChannel(RenderingOutputChannel):
    """Keeps the rendered replies instead of sending them (replay, tests)."""

    def __init__(self, channel: str, *, public: bool, handle: str | None) -> None:
        super().__init__(channel, public=public, handle=handle)
        self.replies: list[Reply] = []

    @classmethod
    def name(cls) -> str:
        """Replay renders like the real channel, but is not one."""
        return "replay"

    async def deliver(self, recipient_id: str, reply: Reply) -> None:
        """Collects the reply."""
        self.replies.append(reply)
