"""SMS rendering: GSM 03.38 / UCS-2 encoding, segment counting, transliteration and fitting.

A text made only of GSM 03.38 characters travels as 7-bit septets (160 in one SMS, 153 per part
of a concatenated SMS; the extension characters € ^ { } [ ] ~ | backslash and form feed take two
septets each).
Anything else forces UCS-2 for the whole message: 70 UTF-16 code units in one SMS, 67 per part.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from bot.render.text import emoji_end, is_pictographic, is_regional_indicator, shorten

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
_GSM7_BASIC_SET = frozenset(GSM7_BASIC)
_GSM7_EXTENSION_SET = frozenset(GSM7_EXTENSION)

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67
DEFAULT_MAX_SEGMENTS = 2
SMS_ELLIPSIS = "..."

Encoding = Literal["GSM-7", "UCS-2"]

# Nearest GSM-7 spelling of characters GSM-7 lacks and that decomposition does not handle.
_TRANSLITERATIONS: dict[str, str] = {
    "ç": "c",
    "ª": "a",
    "º": "o",
    "°": "o",
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "‹": "'",
    "›": "'",
    "`": "'",
    "´": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "‟": '"',
    "″": '"',
    "«": '"',
    "»": '"',
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
    "…": "...",
    "•": "-",
    "·": ".",
    "©": "(c)",
    "®": "(R)",
    "™": "TM",
    "×": "x",
    "÷": "/",
    "→": "->",
    "←": "<-",
    "≤": "<=",
    "≥": ">=",
    "¢": "c",
    "Œ": "OE",
    "œ": "oe",
    "Ð": "D",
    "ð": "d",
    "Þ": "Th",
    "þ": "th",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "ı": "i",
    "\u2044": "/",  # fraction slash, from the decomposition of ½
    "\u2028": "\n",
    "\u2029": "\n",
    "\t": " ",
}
_PUNCTUATION_BY_CATEGORY = {"Pd": "-", "Pi": '"', "Pf": '"', "Ps": "(", "Pe": ")", "Pc": "_"}

# A phone number: digits with single spaces, dots, dashes or brackets between them.
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d(?:[ .\-()]{0,2}\d){6,}")
# A link or an address: a run without spaces that has a scheme, www., @ or a dotted name.
_LINK_MARK = re.compile(r"://|www\.|@|\w\.[A-Za-z]{2,}", re.IGNORECASE)


@dataclass(frozen=True)
class SmsInfo:
    """How a text travels as SMS.

    Attributes:
        encoding: "GSM-7" or "UCS-2".
        units: Septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2.
        segments: How many SMS it takes (1 for an empty text).
        per_segment: The capacity of each segment: 160/153 for GSM-7, 70/67 for UCS-2.
    """

    encoding: Encoding
    units: int
    segments: int
    per_segment: int


def _septets(char: str) -> int:
    if char in _GSM7_BASIC_SET:
        return 1
    if char in _GSM7_EXTENSION_SET:
        return 2
    return 0


def is_gsm7(text: str) -> bool:
    """Tell whether every character of ``text`` is in the GSM 03.38 basic or extension table.

    Args:
        text: The text.

    Returns:
        True if the text can travel as GSM-7.
    """
    return all(_septets(char) for char in text)


def _pack(sizes: list[int], capacity: int) -> int:
    """Count segments when no character may straddle two (extension pairs, surrogate pairs)."""
    segments, used = 1, 0
    for size in sizes:
        if used + size > capacity:
            segments += 1
            used = 0
        used += size
    return segments


def encoding_of(text: str) -> SmsInfo:
    """Work out the encoding, size and number of segments of an SMS.

    Args:
        text: The SMS body exactly as it would be sent.

    Returns:
        The encoding, the units used, the segment count and the per-segment capacity.
    """
    if is_gsm7(text):
        encoding: Encoding = "GSM-7"
        sizes = [_septets(char) for char in text]
        single, multi = GSM7_SINGLE, GSM7_MULTI
    else:
        encoding = "UCS-2"
        sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
        single, multi = UCS2_SINGLE, UCS2_MULTI
    units = sum(sizes)
    if units <= single:
        return SmsInfo(encoding, units, 1, single)
    return SmsInfo(encoding, units, _pack(sizes, multi), multi)


def _map_char(char: str) -> tuple[str, bool]:
    """Map one non-GSM character: (replacement, whether meaning was lost)."""
    if char in _TRANSLITERATIONS:
        return _TRANSLITERATIONS[char], False
    category = unicodedata.category(char)
    if category == "Zs":
        return " ", False
    decomposed = "".join(
        part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part)
    )
    if decomposed and decomposed != char:
        mapped = [part if _septets(part) else _TRANSLITERATIONS.get(part) for part in decomposed]
        if all(piece is not None for piece in mapped):
            return "".join(piece for piece in mapped if piece is not None), False
    if category in _PUNCTUATION_BY_CATEGORY:
        return _PUNCTUATION_BY_CATEGORY[category], False
    if category[0] in "SCM":  # symbols, pictographs, format and control characters, lone marks
        return "", False
    return "?", True


def _transliterate(text: str) -> tuple[str, bool]:
    """Transliterate to GSM-7; also tell whether any letter or sign had to become "?"."""
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    lossy = dropped = False
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if _septets(char):
            out.append(char)
            i += 1
            continue
        if char in _TRANSLITERATIONS:  # before the emoji test: © ® ™ are pictographs too
            out.append(_TRANSLITERATIONS[char])
            i += 1
            continue
        end = emoji_end(text, i)
        if end is not None or is_pictographic(char) or is_regional_indicator(char):
            dropped = True
            i = end if end is not None else i + 1
            continue
        replacement, lost = _map_char(char)
        lossy = lossy or lost
        dropped = dropped or not replacement
        out.append(replacement)
        i += 1
    result = "".join(out)
    if dropped:  # tidy the gaps left by removed emoji
        result = re.sub(r" {2,}", " ", result)
        result = re.sub(r" +(?=\n)|(?<=\n) +", "", result).strip(" ")
    return result, lossy


def transliterate_to_gsm7(text: str) -> str:
    """Replace characters GSM-7 lacks by their nearest GSM-7 spelling.

    Accents GSM-7 lacks go (á→a, ã→a, ê→e, ç→c), typographic quotes and dashes become straight
    ones, … becomes ..., emoji are dropped; characters GSM-7 has (é è ù ì ò à Ç Ñ ñ ü ä ö ¿ ¡ £ €
    …) are kept. A letter with no Latin equivalent becomes "?".

    Args:
        text: Any text.

    Returns:
        Text for which :func:`is_gsm7` is true.
    """
    return _transliterate(text)[0]


def _protected_spans(text: str) -> list[tuple[int, int]]:
    spans = [match.span() for match in _PHONE.finditer(text)]
    spans += [
        match.span() for match in re.finditer(r"\S+", text) if _LINK_MARK.search(match.group())
    ]
    return sorted(spans)


def fit_sms(text: str, max_segments: int = DEFAULT_MAX_SEGMENTS) -> str:
    """Make a reply fit in ``max_segments`` SMS.

    A text that fits is returned as it is. A UCS-2 text that is too long is transliterated to
    GSM-7 when that loses no letter (accented Portuguese, Spanish, Italian) and makes it fit.
    Otherwise the text (transliterated, if that was lossless, since GSM-7 holds twice as much) is
    shortened deliberately: whole trailing sentences first, then a cut at a word boundary ending in
    "...". Phone numbers and links are never cut, unless a single one is longer than the budget.

    Args:
        text: The reply.
        max_segments: The most SMS one reply may take.

    Returns:
        A text that takes at most ``max_segments`` SMS.

    Raises:
        ValueError: If ``max_segments`` is less than 1.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")

    def fits(candidate: str) -> bool:
        return encoding_of(candidate).segments <= max_segments

    if fits(text):
        return text
    base = text
    if not is_gsm7(text):
        transliterated, lossy = _transliterate(text)
        if not lossy:
            if fits(transliterated):
                return transliterated
            base = transliterated
    short = shorten(base, fits, ellipsis=SMS_ELLIPSIS, protected=_protected_spans(base))
    return short or shorten(base, fits, ellipsis=SMS_ELLIPSIS)
