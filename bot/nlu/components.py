"""Rasa 3.6 graph components that add our NLU signals to parse data.

Thin wrappers around the plain logic in `bot.nlu.language`, `personal_data`, `emotion` and
`addressing`. Each sets one parse-data key (see DEVELOPERS.md, "What the NLU pipeline adds"):
`language`, `personal_data`, `emotion`, `addressing`.

They are registered as non-trainable ENTITY_EXTRACTOR components, like Rasa's own
`DucklingEntityExtractor`: the recipe then leaves them out of training entirely and, at inference,
runs them in pipeline order after the components listed before them. `EmotionDetector` reads the
language, so list it after `LanguageDetector` (declared in `required_components`; Rasa does not
enforce that for inference-only components, so without a language it guesses one itself).
`LanguageDetector` also receives the tracker, to keep the conversation's language for messages
like "ok". `AddressingDetector` reads the intent and the emotion: list it last.

Config keys (all default to None = take the value from `brand.yml` through
`bot.settings.load_brand()`, which is called in `create`, never at import):
`languages`, `account_number_pattern` (an empty string means none), `phone_regions`,
`own_contacts` (the brand's phone numbers and e-mail), `handle`.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.addressing import addressing
from bot.nlu.emotion import EmotionLexicon, detect_emotion
from bot.nlu.language import LanguageGuesser
from bot.nlu.personal_data import as_spans, find_personal_data

logger = logging.getLogger(__name__)

LANGUAGE_KEY = "language"
PERSONAL_DATA_KEY = "personal_data"
EMOTION_KEY = "emotion"
ADDRESSING_KEY = "addressing"
METADATA_KEY = "metadata"
NLU_FALLBACK = "nlu_fallback"
LANGUAGE_SLOT = "language"
# How far back in a conversation to look for the language of an earlier message.
MAX_EVENTS_BACK = 200

_TRUE_STRINGS = frozenset({"true", "1", "yes", "y", "public"})


def _brand() -> Any:
    from bot.settings import load_brand

    return load_brand()


class _ConfigResolver:
    """Read component config values, falling back to brand.yml (loaded once, only if needed)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._brand: Any = None

    def get(self, key: str, brand_attribute: str) -> Any:
        value = self._config.get(key)
        if value is not None:
            return value
        if self._brand is None:
            self._brand = _brand()
        return getattr(self._brand, brand_attribute)


def _text_of(message: Message) -> str:
    text = message.get(TEXT)
    return text if isinstance(text, str) else ""


def _metadata_of(message: Message) -> dict[str, Any]:
    metadata = message.get(METADATA_KEY)
    return metadata if isinstance(metadata, dict) else {}


def _is_public(metadata: dict[str, Any]) -> bool:
    """`metadata["public"]`; missing means private (SMS, Telegram, a DM, the REST channel)."""
    value = metadata.get("public", False)
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_STRINGS
    return bool(value)


def _string_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",")]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise InvalidConfigException(f"`{key}` must be a list of strings, got {value!r}")
    return [item for item in value if item]


def _configured_languages(config: dict[str, Any]) -> list[str]:
    """The `languages` of a component's config, else the brand's, lower-cased."""
    languages = _string_list(_ConfigResolver(config).get("languages", "languages"), "languages")
    return [code.lower() for code in languages]


class _SignalComponent(GraphComponent):
    """What the four signal components share: no training, pass-through training data."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """No defaults of its own: None means "from brand.yml"."""
        return {}

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data passes through unchanged: these signals are computed at inference."""
        return training_data


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class LanguageDetector(_SignalComponent):
    """Sets `language`: `{"code", "confidence", "reliable"}` (+ `"locale_hint"` when known)."""

    def __init__(self, languages: list[str]) -> None:
        """Create the detector for the brand's languages (the first is the fallback)."""
        if not languages:
            raise InvalidConfigException("LanguageDetector needs at least one language")
        self.languages = languages
        self.guesser = LanguageGuesser(languages)

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """`languages`: ISO 639-1 codes; None takes brand.yml's."""
        return {"languages": None}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        """Create the component from its config (brand.yml for what the config leaves out)."""
        return cls(_configured_languages(config))

    def _previous_language(self, tracker: DialogueStateTracker | None) -> str | None:
        """Return the conversation's language: the `language` slot, else an earlier message's."""
        if tracker is None:
            return None
        slot = tracker.slots.get(LANGUAGE_SLOT)
        if slot is not None and isinstance(slot.value, str) and slot.value in self.languages:
            return slot.value
        for index, event in enumerate(reversed(tracker.events)):
            if index >= MAX_EVENTS_BACK:
                break
            if isinstance(event, UserUttered):
                value = (event.parse_data or {}).get(LANGUAGE_KEY)
                code = value.get("code") if isinstance(value, dict) else None
                if isinstance(code, str) and code in self.languages:
                    return code
        return None

    # Rasa validates graph signatures with typing_utils, which understands Optional[...] but not
    # "X | None": keep Optional here.
    def process(
        self,
        messages: list[Message],
        tracker: Optional[DialogueStateTracker] = None,  # noqa: UP045
    ) -> list[Message]:
        """Guess each message's language, keeping the conversation's for unclear ones."""
        previous = self._previous_language(tracker)
        for message in messages:
            guess = self.guesser.guess(_text_of(message), previous)
            value = guess.as_dict()
            if guess.locale_hint:
                value["locale_hint"] = guess.locale_hint
            message.set(LANGUAGE_KEY, value, add_to_output=True)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class PersonalDataDetector(_SignalComponent):
    """Sets `personal_data`: `[{"kind", "start", "end"}]`, validated findings only."""

    def __init__(
        self,
        account_number_pattern: str | None,
        phone_regions: list[str],
        own_contacts: list[str] | None = None,
    ) -> None:
        """Create the detector.

        Raises:
            InvalidConfigException: the account-number pattern is not a regular expression.
        """
        if account_number_pattern:
            try:
                re.compile(account_number_pattern)
            except re.error as error:
                raise InvalidConfigException(
                    f"`account_number_pattern` is not a valid regular expression: {error}"
                ) from error
        self.account_number_pattern = account_number_pattern or None
        self.phone_regions = [region.upper() for region in phone_regions]
        self.own_contacts = list(own_contacts or [])

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The detector's settings; None takes brand.yml's.

        `account_number_pattern` ("" = none), `phone_regions`, and `own_contacts`: the brand's
        phone numbers and e-mail addresses, which customers quote back.
        """
        return {"account_number_pattern": None, "phone_regions": None, "own_contacts": None}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PersonalDataDetector:
        """Create the component from its config (brand.yml for what the config leaves out)."""
        resolver = _ConfigResolver(config)
        pattern = resolver.get("account_number_pattern", "account_number_pattern")
        regions = _string_list(resolver.get("phone_regions", "phone_regions"), "phone_regions")
        contacts = resolver.get("own_contacts", "contacts")
        if not isinstance(contacts, (str, list, tuple)):
            # brand.yml's `contacts`: the phone number and e-mail address customers quote back.
            contacts = [
                getattr(contacts, "phone", None) or "",
                getattr(contacts, "email", None) or "",
            ]
        own = _string_list(contacts, "own_contacts")
        return cls(pattern if isinstance(pattern, str) else None, regions, own)

    def process(self, messages: list[Message]) -> list[Message]:
        """Find personal data in each message (the whole text is scanned)."""
        for message in messages:
            findings = find_personal_data(
                _text_of(message),
                account_pattern=self.account_number_pattern,
                phone_regions=self.phone_regions,
                own_contacts=self.own_contacts,
            )
            message.set(PERSONAL_DATA_KEY, as_spans(findings), add_to_output=True)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class EmotionDetector(_SignalComponent):
    """Sets `emotion`: `{"label", "score", "cues"}`; runs after `LanguageDetector`."""

    def __init__(self, languages: list[str]) -> None:
        """Create the detector and loads the lexicons of the brand's languages."""
        if not languages:
            raise InvalidConfigException("EmotionDetector needs at least one language")
        self.languages = languages
        self.lexicons = {code: EmotionLexicon.load(code) for code in languages}
        # Only used when a message arrives without a language (LanguageDetector missing or
        # placed after this component: Rasa does not enforce the order at inference).
        self._guesser: LanguageGuesser | None = None

    @classmethod
    def required_components(cls) -> list[type]:
        """Require `LanguageDetector`: the language of each message must be known first."""
        return [LanguageDetector]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """`languages`: whose lexicons to load; None takes brand.yml's."""
        return {"languages": None}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmotionDetector:
        """Create the component from its config (brand.yml for what the config leaves out)."""
        return cls(_configured_languages(config))

    def _language_of(self, message: Message) -> str:
        value = message.get(LANGUAGE_KEY)
        code = value.get("code") if isinstance(value, dict) else None
        if isinstance(code, str):
            return code if code in self.lexicons else self.languages[0]
        if self._guesser is None:
            self._guesser = LanguageGuesser(self.languages)
        return self._guesser.guess(_text_of(message)).code

    def process(self, messages: list[Message]) -> list[Message]:
        """Detect each message's emotion with the lexicon of its language."""
        for message in messages:
            emotion = detect_emotion(_text_of(message), self._language_of(message), self.lexicons)
            message.set(EMOTION_KEY, emotion.as_dict(), add_to_output=True)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class AddressingDetector(_SignalComponent):
    """Sets `addressing`: `{"addressed", "why"}` from the text, `metadata["public"]` and the intent.

    Listed after the intent classifier, FallbackClassifier and EmotionDetector, it also reads
    the intent: a public post classified as `no_request_intent`, without an emotion, asks the
    brand nothing and is not addressed.
    """

    def __init__(
        self, handle: str, no_request_intent: str | None = None, no_request_confidence: float = 0.45
    ) -> None:
        """Create the detector for the brand's X handle."""
        if not handle or not handle.strip().lstrip("@"):
            raise InvalidConfigException("AddressingDetector needs the brand's handle")
        if not 0.0 <= float(no_request_confidence) <= 1.0:
            raise InvalidConfigException("`no_request_confidence` must be between 0 and 1")
        self.handle = handle.strip()
        self.no_request_intent = no_request_intent or None
        self.no_request_confidence = float(no_request_confidence)

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The detector's settings.

        `handle`: the brand's X handle (None takes brand.yml's); `no_request_intent`: the intent
        of posts that ask nothing (None: the text alone decides), and `no_request_confidence`,
        what it needs as the classifier's best intent.
        """
        return {"handle": None, "no_request_intent": None, "no_request_confidence": 0.45}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> AddressingDetector:
        """Create the component from its config (brand.yml for what the config leaves out)."""
        handle = _ConfigResolver(config).get("handle", "handle")
        if not isinstance(handle, str):
            raise InvalidConfigException(f"`handle` must be a string, got {handle!r}")
        intent = config.get("no_request_intent")
        if intent is not None and not isinstance(intent, str):
            raise InvalidConfigException(f"`no_request_intent` must be a string, got {intent!r}")
        confidence = config.get("no_request_confidence", 0.45)
        if not isinstance(confidence, (int, float)):
            raise InvalidConfigException(
                f"`no_request_confidence` must be a number, got {confidence!r}"
            )
        return cls(handle, intent, float(confidence))

    def _asks_nothing(self, message: Message) -> bool:
        """Whether the classifier's best intent is `no_request`, confident enough.

        FallbackClassifier's own entry is passed over: a public post that reads most like a
        non-request (at `no_request_confidence`) is better left alone than answered publicly
        with "a person will answer you". An emotional post is never left alone (list this
        component after EmotionDetector).
        """
        if not self.no_request_intent:
            return False
        emotion = message.get(EMOTION_KEY)
        if isinstance(emotion, dict) and emotion.get("label"):
            # Anger or distress about the brand ("well done, third outage this week 👏") is a
            # case for a person, however little it asks.
            return False
        ranking = message.get(INTENT_RANKING_KEY) or [message.get(INTENT) or {}]
        for entry in ranking:
            if not isinstance(entry, dict) or entry.get("name") == NLU_FALLBACK:
                continue
            return bool(
                entry.get("name") == self.no_request_intent
                and float(entry.get("confidence") or 0.0) >= self.no_request_confidence
            )
        return False

    def process(self, messages: list[Message]) -> list[Message]:
        """Decide for each message whether it is addressed to the brand."""
        for message in messages:
            metadata = _metadata_of(message)
            platform = metadata.get("platform")
            hint = platform.get("addressed_hint") if isinstance(platform, dict) else None
            result = addressing(
                _text_of(message),
                public=_is_public(metadata),
                brand_handle=self.handle,
                hint=hint if isinstance(hint, dict) else None,
                asks_nothing=self._asks_nothing(message),
            )
            message.set(ADDRESSING_KEY, result.as_dict(), add_to_output=True)
        return messages
