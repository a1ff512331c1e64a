"""Channel-independent text helpers: clean-up, emoji clusters, sentences and deliberate shortening.

Everything here is plain standard-library logic shared by the X, SMS and Telegram renderers.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable, Sequence

ELLIPSIS = "…"

Span = tuple[int, int]

# Unicode 15 Extended_Pictographic (emoji-data.txt), as inclusive code point ranges. Generated once
# from the `regex` module's \p{Extended_Pictographic}; the property is stable (it pre-reserves whole
# emoji blocks), and embedding it keeps this module free of third-party imports.
# fmt: off
_PICTOGRAPHIC_RANGES: tuple[tuple[int, int], ...] = (
    (0xA9, 0xA9), (0xAE, 0xAE), (0x203C, 0x203C), (0x2049, 0x2049), (0x2122, 0x2122),
    (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA), (0x231A, 0x231B), (0x2328, 0x2328),
    (0x2388, 0x2388), (0x23CF, 0x23CF), (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2),
    (0x25AA, 0x25AB), (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x2605),
    (0x2607, 0x2612), (0x2614, 0x2685), (0x2690, 0x2705), (0x2708, 0x2712), (0x2714, 0x2714),
    (0x2716, 0x2716), (0x271D, 0x271D), (0x2721, 0x2721), (0x2728, 0x2728), (0x2733, 0x2734),
    (0x2744, 0x2744), (0x2747, 0x2747), (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755),
    (0x2757, 0x2757), (0x2763, 0x2767), (0x2795, 0x2797), (0x27A1, 0x27A1), (0x27B0, 0x27B0),
    (0x27BF, 0x27BF), (0x2934, 0x2935), (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50),
    (0x2B55, 0x2B55), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299),
    (0x1F000, 0x1F0FF), (0x1F10D, 0x1F10F), (0x1F12F, 0x1F12F), (0x1F16C, 0x1F171),
    (0x1F17E, 0x1F17F), (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A), (0x1F1AD, 0x1F1E5),
    (0x1F201, 0x1F20F), (0x1F21A, 0x1F21A), (0x1F22F, 0x1F22F), (0x1F232, 0x1F23A),
    (0x1F23C, 0x1F23F), (0x1F249, 0x1F3FA), (0x1F400, 0x1F53D), (0x1F546, 0x1F64F),
    (0x1F680, 0x1F6FF), (0x1F774, 0x1F77F), (0x1F7D5, 0x1F7FF), (0x1F80C, 0x1F80F),
    (0x1F848, 0x1F84F), (0x1F85A, 0x1F85F), (0x1F888, 0x1F88F), (0x1F8AE, 0x1F8FF),
    (0x1F90C, 0x1F93A), (0x1F93C, 0x1F945), (0x1F947, 0x1FAFF), (0x1FC00, 0x1FFFD),
)
# fmt: on
_PICTOGRAPHIC_STARTS = [start for start, _ in _PICTOGRAPHIC_RANGES]

ZWJ = "\u200d"
VS15 = "\ufe0e"  # text presentation selector
VS16 = "\ufe0f"  # emoji presentation selector
KEYCAP = "\u20e3"
_KEYCAP_BASES = frozenset("0123456789#*")
_TEXT_DEFAULT_PICTOGRAPHS = frozenset("\u00a9\u00ae")  # © ®: emoji only with VS16
# Below U+203C only these can start an emoji sequence.
_LOW_EMOJI_STARTS = _KEYCAP_BASES | _TEXT_DEFAULT_PICTOGRAPHS

_TRAILING_CUT_CHARS = " \t\n,;:.-–—(/«“\"'"
_SENTENCE_BREAK = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|\n")
_BLANK_LINES = re.compile(r"\n{3,}")
# Control characters (category Cc) except the newline, the BOM and two non-characters.
_UNWANTED = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+(?=\n)")
_LINKISH = re.compile(r"://|www\.|@|\w\.\w", re.IGNORECASE)


def is_pictographic(char: str) -> bool:
    """Tell whether a character has the Unicode Extended_Pictographic property.

    Args:
        char: One character.

    Returns:
        True for emoji-like pictographs (including text-default ones such as ©).
    """
    cp = ord(char)
    index = bisect.bisect_right(_PICTOGRAPHIC_STARTS, cp) - 1
    return index >= 0 and cp <= _PICTOGRAPHIC_RANGES[index][1]


def is_skin_tone(char: str) -> bool:
    """Tell whether a character is an emoji skin-tone modifier (U+1F3FB..U+1F3FF)."""
    return 0x1F3FB <= ord(char) <= 0x1F3FF


def is_regional_indicator(char: str) -> bool:
    """Tell whether a character is a regional indicator letter (half of a flag)."""
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _is_tag(char: str) -> bool:
    return 0xE0020 <= ord(char) <= 0xE007F


def _element_end(text: str, i: int) -> int:
    """End of the emoji element starting at ``i``: base, then VS16, skin tone, tag characters."""
    n = len(text)
    j = i + 1
    if j < n and text[j] == VS16:
        j += 1
    if j < n and is_skin_tone(text[j]):
        j += 1
    while j < n and _is_tag(text[j]):
        j += 1
    return j


def emoji_end(text: str, i: int) -> int | None:
    """Find the end of the emoji sequence that starts at ``text[i]``, if one does.

    Recognises keycaps (``1️⃣``), flags (two regional indicators), tag sequences (``🏴󠁧󠁢󠁥󠁮󠁧󠁿``),
    pictographs with VS16 or a skin tone, and ZWJ sequences of those (``👨‍👩‍👧‍👦``). A pictograph
    followed by the text presentation selector, and © or ® without VS16, are not emoji.

    Args:
        text: The text.
        i: Index of the first character of the candidate sequence.

    Returns:
        The exclusive end index of the emoji sequence, or None if no emoji starts at ``i``.
    """
    n = len(text)
    char = text[i]
    if char < "\u203c" and char not in _LOW_EMOJI_STARTS:  # fast path: most text
        return None
    if char in _KEYCAP_BASES:
        j = i + 1
        if j < n and text[j] == VS16:
            j += 1
        return j + 1 if j < n and text[j] == KEYCAP else None
    if is_regional_indicator(char):
        return i + 2 if i + 1 < n and is_regional_indicator(text[i + 1]) else None
    following = text[i + 1] if i + 1 < n else ""
    if is_skin_tone(char):
        return i + 1
    if not is_pictographic(char) or following == VS15:
        return None
    if char in _TEXT_DEFAULT_PICTOGRAPHS and following != VS16:
        return None
    j = _element_end(text, i)
    while j + 1 < n and text[j] == ZWJ and is_pictographic(text[j + 1]):
        j = _element_end(text, j + 1)
    return j


def _is_extender(char: str) -> bool:
    """Characters that never start a user-perceived character of their own."""
    if char in (ZWJ, VS15, VS16, KEYCAP) or is_skin_tone(char) or _is_tag(char):
        return True
    if 0xFE00 <= ord(char) <= 0xFE0F:
        return True
    return unicodedata.category(char) in ("Mn", "Me", "Mc")


def cluster_ends(text: str) -> list[int]:
    """Return the end offsets of user-perceived characters, so that cuts never split one.

    An approximation of grapheme clusters that is good enough for cutting: emoji sequences, a base
    with its combining marks and variation selectors, and CR LF each stay whole.

    Args:
        text: The text.

    Returns:
        Increasing exclusive end offsets; the last one is ``len(text)`` (empty list for "").
    """
    ends: list[int] = []
    n = len(text)
    i = 0
    while i < n:
        end = emoji_end(text, i)
        if end is None:
            end = i + 2 if text.startswith("\r\n", i) else i + 1
            while end < n and _is_extender(text[end]):
                end += 1
        ends.append(end)
        i = end
    return ends


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (how Telegram, SMS UCS-2 and JavaScript count)."""
    return len(text.encode("utf-16-le")) // 2


def normalise_outgoing(text: str) -> str:
    """Clean a reply before it is rendered for any channel.

    NFC-normalises, turns CR LF / CR into LF and tabs into spaces, removes other control characters,
    the BOM and non-characters, trims spaces at line ends, collapses three or more newlines into one
    blank line and strips the ends.

    Args:
        text: The reply as produced by the bot or an agent.

    Returns:
        The cleaned text (possibly empty).
    """
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _UNWANTED.sub("", text)
    text = _TRAILING_SPACE.sub("", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def _inside(position: int, spans: Sequence[Span]) -> bool:
    return any(start < position < end for start, end in spans)


def sentence_ends(text: str, protected: Sequence[Span] = ()) -> list[int]:
    """Return the offsets where sentences end.

    A sentence ends after ``.``, ``!``, ``?`` or ``…`` (with any closing quotes or brackets) when
    whitespace and then something other than a lower-case letter follows (so "e.g. this" stays
    whole), and at every line break.

    Args:
        text: The text (normally already stripped).
        protected: Spans (URLs, phone numbers) that must not be split.

    Returns:
        Increasing exclusive end offsets of non-empty sentences; the last is ``len(text)``.
    """
    ends: list[int] = []
    for match in _SENTENCE_BREAK.finditer(text):
        end = match.start() if match.group() == "\n" else match.end()
        if match.group() != "\n":
            rest = text[end:].lstrip()
            if rest and rest[0].islower():
                continue
        if _inside(end, protected) or not text[:end].strip():
            continue
        if not ends or text[ends[-1] : end].strip():
            ends.append(end)
    if text.strip() and (not ends or text[ends[-1] :].strip()):
        ends.append(len(text))
    elif ends:
        ends[-1] = len(text)
    return ends


def word_ends(text: str, protected: Sequence[Span] = ()) -> list[int]:
    """Return the offsets where words end (a non-space followed by whitespace or the end).

    Args:
        text: The text.
        protected: Spans that must not be split; word ends inside them are left out.

    Returns:
        Increasing exclusive end offsets.
    """
    return [
        match.end() for match in re.finditer(r"\S+", text) if not _inside(match.end(), protected)
    ]


def _largest_fitting(
    positions: Sequence[int], make: Callable[[int], str | None], fits: Callable[[str], bool]
) -> str | None:
    """Binary-search the largest position whose candidate fits (candidates grow with position)."""
    best: str | None = None
    low, high = 0, len(positions) - 1
    while low <= high:
        middle = (low + high) // 2
        candidate = make(positions[middle])
        if candidate is not None and fits(candidate):
            best = candidate
            low = middle + 1
        else:
            high = middle - 1
    return best


def _with_ellipsis(head: str, ellipsis: str) -> str | None:
    head = head.rstrip(_TRAILING_CUT_CHARS)
    if not head:
        return None
    last_word = head.split()[-1]
    # A mark glued to a link could be taken as part of it by the customer's app.
    separator = " " if _LINKISH.search(last_word) else ""
    return head + separator + ellipsis


def shorten(
    text: str,
    fits: Callable[[str], bool],
    *,
    ellipsis: str = ELLIPSIS,
    protected: Sequence[Span] = (),
) -> str:
    """Shorten text deliberately until ``fits`` accepts it.

    First drops whole trailing sentences (keeping at least one); if the first sentence alone is
    still too long, cuts it at a word boundary and appends ``ellipsis``; if even the first word is
    too long, cuts between user-perceived characters. Cuts never fall inside ``protected`` spans.

    Args:
        text: The text to shorten.
        fits: Tells whether a candidate is within the channel's budget.
        ellipsis: What marks a cut inside a sentence.
        protected: Spans of ``text`` (URLs, phone numbers) that must stay whole.

    Returns:
        The longest candidate found that fits, or "" if nothing does.
    """
    stripped = text.strip()
    offset = len(text) - len(text.lstrip())
    spans = [(start - offset, end - offset) for start, end in protected]
    if not stripped or fits(stripped):
        return stripped
    ends = sentence_ends(stripped, spans)
    kept = _largest_fitting(ends[:-1], lambda end: stripped[:end].rstrip() or None, fits)
    if kept is not None:
        return kept
    first = stripped[: ends[0]].rstrip() if ends else stripped
    spans = [(start, end) for start, end in spans if start < len(first)]
    words = [end for end in word_ends(first, spans) if end < len(first)]
    cut = _largest_fitting(words, lambda end: _with_ellipsis(first[:end], ellipsis), fits)
    if cut is not None:
        return cut
    clusters = [end for end in cluster_ends(first) if not _inside(end, spans)]
    cut = _largest_fitting(clusters, lambda end: _with_ellipsis(first[:end], ellipsis), fits)
    return cut or ""
