"""Personal data in a message: validated, not guessed.

Candidates come from regular expressions and are kept only when they pass the real check: check
digits for tax ids (NIF, DNI, NIE, codice fiscale), IBANs and payment cards, `phonenumbers` validity
for phone numbers, a careful pattern for e-mail addresses, and the brand's own account-number
pattern. Overlapping findings are resolved so that each piece of text is reported once, as its most
specific kind.

Some numbers pass those checks and are still not the customer's: the brand's own phone number or
e-mail quoted back (`own_contacts`), a payment reference ("Entidade 21345 Referência 912 345 678",
Portugal's Multibanco), a device's serial number ("S/N 210455678"). A number right after a label
that says it is a reference or a serial (nothing but separators between them) is not personal
data, so "referência: o meu NIF 123456789" is still a NIF.

Plain logic: no Rasa import. The Rasa component wrapping it is
`bot.nlu.components.PersonalDataDetector`. Masking lives with the transcript:
`handoff.transcript.mask(text, as_spans(findings))`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

KINDS = (
    "nif",
    "dni",
    "nie",
    "codice_fiscale",
    "iban",
    "card",
    "phone",
    "email",
    "account_number",
)

# When two findings overlap, the longer wins; on equal length, the earlier kind here wins
# (check-digit-validated kinds are the most specific, a phone number the least).
_SPECIFICITY = {
    kind: rank
    for rank, kind in enumerate(
        ("iban", "card", "codice_fiscale", "nie", "dni", "account_number", "email", "nif", "phone")
    )
}

# How far before a nine-digit number to look for a word saying what it is.
_CONTEXT_CHARS = 40


@dataclass(frozen=True)
class Finding:
    """One piece of personal data.

    Attributes:
        kind: One of KINDS.
        start: Offset of its first character in the text.
        end: Offset just past its last character.
        value: The text as written (never put it in logs or public replies).
    """

    kind: str
    start: int
    end: int
    value: str

    def __len__(self) -> int:
        return self.end - self.start


class _Patterns:
    """The compiled candidate patterns (compiled once, on first use)."""

    def __init__(self) -> None:
        self.nif = re.compile(r"(?<![\w-])(?:PT ?)?(?:\d{9}|\d{3} \d{3} \d{3})(?![\w-])", re.I)
        self.dni = re.compile(r"(?<![\w-])\d{8}[ -]?[A-Z](?![\w-])", re.I)
        self.nie = re.compile(r"(?<![\w-])[XYZ][ -]?\d{7}[ -]?[A-Z](?![\w-])", re.I)
        digit_or_letter = "[0-9LMNPQRSTUV]"
        self.codice_fiscale = re.compile(
            rf"(?<![\w-])[A-Z]{{6}}{digit_or_letter}{{2}}[A-Z]{digit_or_letter}{{2}}[A-Z]"
            rf"{digit_or_letter}{{3}}[A-Z](?![\w-])",
            re.I,
        )
        # An IBAN start: country code and check digits; its end is found by validation.
        self.iban_start = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?=[ ]?[A-Z0-9])", re.I)
        self.iban_body = re.compile(r"(?:[ ]?[A-Z0-9]){11,32}", re.I)
        # A run of digit groups; the card is found inside it (see _card_findings).
        self.digit_run = re.compile(r"(?<![\w-])\d+(?:[ \-.]\d+)*(?![\w-])")
        self.email = re.compile(
            r"(?<![\w.+%-])"
            r"[\w%+-]+(?:\.[\w%+-]+)*"  # local part: no leading, trailing or doubled dot
            r"@"
            r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+"  # domain labels, not starting or ending with -
            r"[^\W\d_]{2,24}"  # a top-level domain of letters
            r"(?![\w@-])"
        )


_patterns: _Patterns | None = None
_patterns_lock = threading.Lock()


def _compiled() -> _Patterns:
    global _patterns
    if _patterns is None:
        with _patterns_lock:
            if _patterns is None:
                _patterns = _Patterns()
    return _patterns


@lru_cache(maxsize=16)
def _account_regex(pattern: str) -> re.Pattern[str]:
    # Customers type account numbers in any case ("aur-12345678").
    return re.compile(pattern, re.IGNORECASE)


# -- validators (python-stdnum, imported lazily: it is only needed when a candidate appears) ------


def _valid_nif(value: str) -> bool:
    from stdnum.pt import nif

    return bool(nif.is_valid(value))


def _valid_dni(value: str) -> bool:
    from stdnum.es import dni

    return bool(dni.is_valid(value))


def _valid_nie(value: str) -> bool:
    from stdnum.es import nie

    return bool(nie.is_valid(value))


def _valid_codice_fiscale(value: str) -> bool:
    from stdnum.it import codicefiscale

    return len(value) == 16 and bool(codicefiscale.is_valid(value))


def _valid_iban(value: str) -> bool:
    from stdnum import iban

    return bool(iban.is_valid(value))


def _plausible_card_prefix(digits: str) -> bool:
    """Whether the number starts like a real card scheme (Visa, Mastercard, Amex, ...)."""
    length = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":  # Visa
        return length in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:  # Mastercard
        return length == 16
    if two in (34, 37):  # American Express
        return length == 15
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:  # Diners Club
        return 14 <= length <= 19
    if digits.startswith(("6011", "65")) or 644 <= int(digits[:3]) <= 649:  # Discover
        return length in (16, 19)
    if 3528 <= four <= 3589:  # JCB
        return 16 <= length <= 19
    if two == 62:  # UnionPay
        return 16 <= length <= 19
    if two in (50, 56, 57, 58, 63, 67, 68, 69):  # Maestro and national debit schemes
        return 12 <= length <= 19
    return False


def _card_grouping_ok(raw: str) -> bool:
    """Separators, when present, must group like a card is written (4-4-4-4, Amex 4-6-5)."""
    groups = re.split(r"[ \-.]", raw)
    if len(groups) == 1:
        return True
    if len({ch for ch in raw if not ch.isdigit()}) > 1:
        return False
    sizes = [len(group) for group in groups]
    if sizes == [4, 6, 5] or sizes == [4, 6, 4]:
        return True
    return all(size == 4 for size in sizes[:-1]) and 1 <= sizes[-1] <= 4


def _valid_card(raw: str) -> bool:
    from stdnum import luhn

    digits = re.sub(r"\D", "", raw)
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    return _card_grouping_ok(raw) and _plausible_card_prefix(digits) and bool(luhn.is_valid(digits))


# -- finders ------------------------------------------------------------------------------------


def _regex_findings(
    text: str, pattern: re.Pattern[str], kind: str, valid: Any = None
) -> Iterable[Finding]:
    for match in pattern.finditer(text):
        value = match.group(0)
        if valid is None or valid(value):
            yield Finding(kind, match.start(), match.end(), value)


def _iban_findings(text: str) -> Iterable[Finding]:
    patterns = _compiled()
    for start_match in patterns.iban_start.finditer(text):
        start = start_match.start()
        body = patterns.iban_body.match(text, start_match.end())
        if body is None:
            continue
        # The body may run on into following words; an IBAN ends before a space or where the
        # word ends, so try those ends, longest first, and keep the first that validates.
        candidate = text[start : body.end()]
        after = body.end()
        word_ends = after >= len(text) or not text[after].isalnum()
        ends = [
            end
            for end in range(len(candidate), 14, -1)
            if candidate[end - 1] != " "
            and (candidate[end] == " " if end < len(candidate) else word_ends)
        ]
        for end in ends:
            piece = candidate[:end]
            if _valid_iban(piece):
                yield Finding("iban", start, start + end, piece)
                break


def _card_findings(text: str) -> Iterable[Finding]:
    """Cards inside runs of digit groups ("ref 12 4111 1111 1111 1111" holds a card)."""
    patterns = _compiled()
    for run in patterns.digit_run.finditer(text):
        raw = run.group(0)
        if sum(ch.isdigit() for ch in raw) < 13:
            continue
        # Group boundaries: (start, end) offsets of each digit group within the run.
        groups = [(m.start(), m.end()) for m in re.finditer(r"\d+", raw)]
        position = 0
        while position < len(groups):
            best: tuple[int, int] | None = None
            digits = 0
            for last in range(position, len(groups)):
                digits += groups[last][1] - groups[last][0]
                if digits > 19:
                    break
                if digits >= 13:
                    start, end = groups[position][0], groups[last][1]
                    if _valid_card(raw[start:end]):
                        best = (start, end)
            if best is None:
                position += 1
                continue
            start, end = best
            yield Finding("card", run.start() + start, run.start() + end, raw[start:end])
            while position < len(groups) and groups[position][0] < end:
                position += 1


def _phone_findings(text: str, regions: Sequence[str]) -> Iterable[Finding]:
    import phonenumbers
    from phonenumbers import Leniency, PhoneNumberMatcher

    seen: set[tuple[int, int]] = set()
    for region in regions or ("ZZ",):
        region_code = region.upper()
        if region_code != "ZZ" and region_code not in phonenumbers.SUPPORTED_REGIONS:
            continue
        for match in PhoneNumberMatcher(text, region_code, leniency=Leniency.VALID):
            span = (match.start, match.end)
            if span not in seen:
                seen.add(span)
                yield Finding("phone", match.start, match.end, match.raw_string)


_NIF_WORDS = re.compile(r"\b(?:nif|nipc|contribuinte|fiscal|tax|vat|iva)\b", re.IGNORECASE)
_PHONE_WORDS = re.compile(
    r"\b(?:tel|tlf|tlm|telefone|telemovel|telemóvel|celular|phone|mobile|móvil|movil|"
    r"telefono|teléfono|cellulare|número de contacto|contacto|contact|ligar|call|whatsapp)\b",
    re.IGNORECASE,
)


# Labels of numbers that are not personal data: payment references (Multibanco's entidade and
# referência, a bank transfer's reference) and device serial numbers, in the four languages. A few
# short words may stand between the label and the number ("serial number of the router is ...").
_NOT_PERSONAL_LABELS = re.compile(
    r"\b(?:entidade|entity|entidad|ent|refer[eê]ncia|referencia|riferimento|reference|ref|refª|"
    r"mb|multibanco|codice avviso|c[oó]digo de pago|serial|s/n|sn|seriale|matr[ií]cola|"
    r"n[uú]mero de s[eé]rie|numero di serie|n\.?º de s[eé]rie)\b"
    r"(?P<gap>(?:[\s:.#ºª°-]+[^\W\d_]{1,10}){0,4})[\s:.#ºª°-]*$",
    re.IGNORECASE,
)
# Words that make the number after them personal again ("referência: o meu NIF 234567899").
_PERSONAL_WORDS = re.compile(
    r"\b(?:nif|nipc|contribuinte|fiscal|tax|vat|iva|dni|nie|tel|tlm|telefone|telem[oó]vel|"
    r"celular|phone|mobile|m[oó]vil|tel[eé]fono|cellulare|whatsapp|contacto|contact|contatto|"
    r"call|ligar|llamar|chiamare)\b",
    re.IGNORECASE,
)
# Kinds a label can clear: nine bare digits that happen to pass a NIF check or look like a phone
# number. A card, an IBAN, an e-mail or the brand's account number is personal whatever precedes it.
_CLEARABLE = frozenset({"nif", "phone"})


def _labelled_not_personal(text: str, finding: Finding) -> bool:
    """Whether the number comes right after a reference or serial label, on the same line."""
    if finding.kind not in _CLEARABLE:
        return False
    line_start = text.rfind("\n", 0, finding.start) + 1
    before = text[max(line_start, finding.start - _CONTEXT_CHARS * 2) : finding.start]
    label = _NOT_PERSONAL_LABELS.search(before)
    return label is not None and _PERSONAL_WORDS.search(label.group("gap")) is None


@lru_cache(maxsize=8)
def _own_contact_digits(own_contacts: tuple[str, ...], regions: tuple[str, ...]) -> frozenset[str]:
    """The brand's phone numbers as digit strings: international, national, with 00."""
    import phonenumbers

    digits: set[str] = set()
    for contact in own_contacts:
        if "@" in contact or not any(ch.isdigit() for ch in contact):
            continue
        bare = re.sub(r"\D", "", contact)
        digits.add(bare)
        for region in regions or ("ZZ",):
            try:
                number = phonenumbers.parse(contact, region.upper())
            except phonenumbers.NumberParseException:
                continue
            national = str(number.national_number)
            digits.update({national, f"{number.country_code}{national}"})
            digits.add(f"00{number.country_code}{national}")
    return frozenset(digits)


def _is_own_contact(
    finding: Finding, own_emails: frozenset[str], own_digits: frozenset[str]
) -> bool:
    """Whether a finding is one of the brand's own contacts, quoted back."""
    if finding.kind == "email":
        return finding.value.casefold() in own_emails
    if finding.kind in ("phone", "nif"):
        digits = re.sub(r"\D", "", finding.value)
        return digits in own_digits or digits.lstrip("0") in own_digits
    return False


def _nif_or_phone(text: str, nif: Finding, phone: Finding) -> Finding:
    """Decide between a NIF and a phone number on the same nine digits, by context."""
    before = text[max(0, nif.start - _CONTEXT_CHARS) : nif.start]
    if _NIF_WORDS.search(before):
        return nif
    if _PHONE_WORDS.search(before):
        return phone
    # Personal NIFs start with 1, 2 or 3; a 9 is a mobile (91/92/93/96) far more often.
    return phone if nif.value.lstrip("PTpt ").startswith("9") else nif


def _resolve(text: str, findings: list[Finding]) -> list[Finding]:
    """Keep one finding per piece of text: the longest, then the most specific."""
    nifs = {(f.start, f.end): f for f in findings if f.kind == "nif"}
    decided: list[Finding] = []
    for finding in findings:
        if finding.kind == "phone" and (finding.start, finding.end) in nifs:
            winner = _nif_or_phone(text, nifs.pop((finding.start, finding.end)), finding)
            decided.append(winner)
        elif finding.kind != "nif":
            decided.append(finding)
    decided.extend(nifs.values())

    ordered = sorted(decided, key=lambda f: (-len(f), _SPECIFICITY[f.kind], f.start))
    kept: list[Finding] = []
    for finding in ordered:
        if all(finding.end <= other.start or finding.start >= other.end for other in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def find_personal_data(
    text: str,
    *,
    account_pattern: str | None,
    phone_regions: Sequence[str],
    own_contacts: Sequence[str] = (),
) -> list[Finding]:
    """Find validated personal data in `text` (all of it is scanned).

    Args:
        text: The message.
        account_pattern: The brand's account-number regular expression (matched ignoring case),
            or None.
        phone_regions: ISO 3166 region codes tried for phone numbers written without a country
            code (numbers with +country are found whatever the regions).
        own_contacts: The brand's own phone numbers and e-mail addresses (brand.yml `contacts`):
            quoted back by a customer, they are not personal data.

    Returns:
        Non-overlapping findings, in text order.

    Raises:
        re.error: `account_pattern` is not a valid regular expression.
    """
    if not text:
        return []
    patterns = _compiled()
    findings: list[Finding] = []
    has_digit = any(ch.isdigit() for ch in text)
    if has_digit:
        findings.extend(_regex_findings(text, patterns.nif, "nif", _valid_nif))
        findings.extend(_regex_findings(text, patterns.dni, "dni", _valid_dni))
        findings.extend(_regex_findings(text, patterns.nie, "nie", _valid_nie))
        findings.extend(
            _regex_findings(text, patterns.codice_fiscale, "codice_fiscale", _valid_codice_fiscale)
        )
        findings.extend(_iban_findings(text))
        findings.extend(_card_findings(text))
        findings.extend(_phone_findings(text, phone_regions))
    if "@" in text:
        findings.extend(_regex_findings(text, patterns.email, "email"))
    if account_pattern:
        findings.extend(_regex_findings(text, _account_regex(account_pattern), "account_number"))
    findings = [f for f in findings if f.end > f.start]
    kept = _resolve(text, findings)
    if not kept:
        return kept
    own_emails = frozenset(c.casefold() for c in own_contacts if "@" in c)
    own_digits = (
        _own_contact_digits(tuple(own_contacts), tuple(phone_regions))
        if own_contacts
        else frozenset()
    )
    return [
        f
        for f in kept
        if not _is_own_contact(f, own_emails, own_digits) and not _labelled_not_personal(text, f)
    ]


def as_spans(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """Return the parse-data value: `[{"kind", "start", "end"}]`, without the values themselves."""
    return [{"kind": f.kind, "start": f.start, "end": f.end} for f in findings]
