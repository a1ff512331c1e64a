"""Validated personal-data detection, masking and spans (no Rasa, no TensorFlow)."""

from __future__ import annotations

import time

import pytest

from bot.nlu.personal_data import KINDS, as_spans, find_personal_data
from handoff.transcript import mask

ACCOUNT = r"\bAUR-?\d{8}\b"
REGIONS = ["PT", "ES", "IT", "GB", "BR"]


def find(text: str, regions: list[str] | None = None) -> list[tuple[str, str]]:
    findings = find_personal_data(
        text, account_pattern=ACCOUNT, phone_regions=REGIONS if regions is None else regions
    )
    for finding in findings:
        assert text[finding.start : finding.end] == finding.value
        assert finding.kind in KINDS
    return [(f.kind, f.value) for f in findings]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Portuguese NIF
        ("o meu NIF é 123456789", [("nif", "123456789")]),
        ("NIF: 245 678 913", [("nif", "245 678 913")]),
        ("contribuinte PT245678913", [("nif", "PT245678913")]),
        # Spanish DNI and NIE
        ("mi DNI es 12345678Z", [("dni", "12345678Z")]),
        ("dni 12345678-z", [("dni", "12345678-z")]),
        ("NIE X1234567L", [("nie", "X1234567L")]),
        ("nie y-1234567-x", [("nie", "y-1234567-x")]),
        # Italian codice fiscale
        ("codice fiscale RSSMRA85T10A562S", [("codice_fiscale", "RSSMRA85T10A562S")]),
        ("cf: rssmra85t10a562s grazie", [("codice_fiscale", "rssmra85t10a562s")]),
        # IBAN, with and without spaces, any case
        (
            "IBAN PT50 0002 0123 1234 5678 9015 4 obrigado",
            [("iban", "PT50 0002 0123 1234 5678 9015 4")],
        ),
        ("IBAN: PT50000201231234567890154.", [("iban", "PT50000201231234567890154")]),
        ("ES91 2100 0418 4502 0005 1332", [("iban", "ES91 2100 0418 4502 0005 1332")]),
        ("IT60X0542811101000000123456", [("iban", "IT60X0542811101000000123456")]),
        ("iban gb82 west 1234 5698 7654 32 please", [("iban", "gb82 west 1234 5698 7654 32")]),
        # payment cards
        ("card 4111 1111 1111 1111 exp 12/27", [("card", "4111 1111 1111 1111")]),
        ("5500-0000-0000-0004", [("card", "5500-0000-0000-0004")]),
        ("amex 3782 822463 10005", [("card", "3782 822463 10005")]),
        ("4012888888881881", [("card", "4012888888881881")]),
        # e-mail
        ("write to joao.silva+tv@gmail.com.", [("email", "joao.silva+tv@gmail.com")]),
        ("ANA_M@Sub.Example.co.uk", [("email", "ANA_M@Sub.Example.co.uk")]),
        ("correo: maría@correo.es", [("email", "maría@correo.es")]),
        # account numbers (the brand's pattern, any case)
        ("conta AUR-12345678", [("account_number", "AUR-12345678")]),
        ("account aur12345678 please", [("account_number", "aur12345678")]),
    ],
)
def test_valid_personal_data_is_found(text: str, expected: list[tuple[str, str]]) -> None:
    assert find(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "o meu NIF é 123456780",  # wrong check digit
        "NIF: 123 456 780",
        "mi DNI es 12345678A",  # wrong control letter
        "NIE X1234567A",
        "codice fiscale RSSMRA85T10A562T",
        "IBAN PT50 0002 0123 1234 5678 9015 5",  # wrong check digits
        "ES92 2100 0418 4502 0005 1332",
        "card 4111 1111 1111 1112",  # fails Luhn
        "1234 5678 9012 3452",  # passes Luhn but no card starts with 1
        "4111 11 1111 111 111",  # not grouped like a card
        "0000000000000000",
        "@AuroraCare can you help",  # a mention is not an e-mail
        "a@b",
        "me@localhost",
        "x..y@mail.com",
        "AUR-1234567",  # one digit short
        "order 20240510 at 10:30, 3 days, 50€",
        "version 1.2.3.4 build 5678",
    ],
)
def test_invalid_candidates_are_not_reported(text: str) -> None:
    assert find(text) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("ligue para 912 345 678", "912 345 678"),
        ("tlm 912345678", "912345678"),
        ("+351 912 345 678", "+351 912 345 678"),
        ("(+351) 210 000 000", "+351) 210 000 000"),
        ("call me on +44 20 7946 0958", "+44 20 7946 0958"),
        ("UK mobile 07911 123456", "07911 123456"),
        ("llámame al 612 34 56 78", "612 34 56 78"),
        ("tel +34 612345678", "+34 612345678"),
        ("chiamami al 347 123 4567", "347 123 4567"),
        ("+39 06 1234 5678", "+39 06 1234 5678"),
        ("meu celular é (11) 98765-4321", "(11) 98765-4321"),
        ("0044 20 7946 0958", "0044 20 7946 0958"),
    ],
)
def test_phone_numbers_in_several_formats(text: str, value: str) -> None:
    found = find(text)
    assert [kind for kind, _ in found] == ["phone"]
    assert value in found[0][1] or found[0][1] in value


def test_phone_numbers_need_a_region_or_country_code() -> None:
    # A Spanish mobile without +34 is found only when Spain is among the regions.
    assert find("llámame al 612 34 56 78", regions=["GB"]) == []
    assert find("call +34 612 34 56 78", regions=["GB"]) == [("phone", "+34 612 34 56 78")]
    assert find("612 34 56 78", regions=["XX", "es"]) == [("phone", "612 34 56 78")]


def test_invalid_phone_numbers_are_ignored() -> None:
    assert find("call 000 000 000") == []
    assert find("+351 123") == []


def test_nine_digits_are_a_nif_or_a_phone_by_context() -> None:
    assert find("NIF 999999990") == [("nif", "999999990")]
    # 212345672 is both a valid NIF and a valid Lisbon landline.
    assert find("telefone 212345672") == [("phone", "212345672")]
    assert find("o meu contribuinte é o 212345672") == [("nif", "212345672")]
    assert find("212345672") == [("nif", "212345672")]
    assert find("912345678") == [("phone", "912345678")]


def test_overlaps_are_reported_once_as_the_most_specific_kind() -> None:
    # The card's digits contain valid-looking phone numbers; only the card is reported.
    assert find("cartão 4111 1111 1111 1111") == [("card", "4111 1111 1111 1111")]
    # An IBAN contains digit runs that could be phones or cards.
    assert find("PT50 0002 0123 1234 5678 9015 4") == [("iban", "PT50 0002 0123 1234 5678 9015 4")]
    # Digits inside an e-mail address are part of the address.
    assert find("joao.912345678@gmail.com") == [("email", "joao.912345678@gmail.com")]


def test_several_findings_in_order() -> None:
    text = (
        "Sou o João, NIF 123456789, conta AUR-12345678, tlm 912 345 678, "
        "email joao@example.pt, IBAN PT50000201231234567890154."
    )
    assert [kind for kind, _ in find(text)] == ["nif", "account_number", "phone", "email", "iban"]


def test_mask_replaces_each_finding_with_its_kind() -> None:
    text = "NIF 123456789 e email joao@example.pt, obrigado"
    findings = find_personal_data(text, account_pattern=ACCOUNT, phone_regions=REGIONS)
    assert mask(text, as_spans(findings)) == "NIF [nif] e email [email], obrigado"
    assert mask(text, []) == text


def test_as_spans_keeps_kind_and_offsets_but_not_the_value() -> None:
    text = "IBAN PT50000201231234567890154"
    findings = find_personal_data(text, account_pattern=None, phone_regions=REGIONS)
    assert as_spans(findings) == [{"kind": "iban", "start": 5, "end": 30}]


def test_no_account_pattern_means_no_account_numbers() -> None:
    assert find_personal_data("AUR-12345678", account_pattern=None, phone_regions=[]) == []


@pytest.mark.parametrize(
    "text", ["", "   ", "\x00\x01\x1b[0m", "😡" * 3000, "ok 👍", "привет 你好"]
)
def test_odd_texts_are_safe(text: str) -> None:
    assert find(text) == []


def test_long_texts_are_scanned_whole_and_fast() -> None:
    filler = "a minha internet não funciona desde ontem e já liguei três vezes. " * 150
    text = filler + "NIF 123456789"  # ~10,000 characters, the finding at the very end
    started = time.perf_counter()
    found = find(text)
    assert found == [("nif", "123456789")]
    assert time.perf_counter() - started < 2.0
    digits = "1234 5678 9012 3456 7890 " * 400  # a pathological 10,000 characters of digits
    started = time.perf_counter()
    find(digits)
    assert time.perf_counter() - started < 5.0


OWN = ["+351 210 000 000", "help@aurora.example"]


def find_own(text: str) -> list[tuple[str, str]]:
    findings = find_personal_data(
        text, account_pattern=ACCOUNT, phone_regions=REGIONS, own_contacts=OWN
    )
    return [(f.kind, f.value) for f in findings]


@pytest.mark.parametrize(
    "text",
    [
        # The brand's own contacts quoted back (issue 12, kind 6), written in every usual way.
        "I rang +351 210 000 000 earlier and it was closed",
        "liguei para o 210 000 000 e ninguém atendeu",
        "ho chiamato lo 00351 210000000 ma era chiuso",
        "escribí a HELP@aurora.example y nada",
        # A Multibanco payment reference: entidade and referência.
        "Pagamento por Multibanco: Entidade 21345 Referência 912 345 678 Valor 32,50€",
        "ref. MB: 234 567 899, posso pagar no multibanco?",
        "payment reference 912345678 - can I pay it at an ATM?",
        # A device serial number, right after its label or a few words later.
        "the sticker on the router says S/N 210455678",
        "el número de serie del router es 234567899",
        "il numero di serie del modem è 219876543",
        "número de série: 234567899",
    ],
)
def test_numbers_that_are_not_the_customers_are_not_personal_data(text: str) -> None:
    assert find_own(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Another number, or a personal label between the reference and the number, still counts.
        ("call me on 912 345 678, not on 210 000 000", [("phone", "912 345 678")]),
        ("referência: o meu NIF 234567899", [("nif", "234567899")]),
        ("my serial number is the same as my phone 912 345 678", [("phone", "912 345 678")]),
        ("write to me at ana@example.com, not help@aurora.example", [("email", "ana@example.com")]),
        # A label never clears a card, an IBAN or an account number.
        ("ref 4111 1111 1111 1111", [("card", "4111 1111 1111 1111")]),
        ("reference AUR-12345678", [("account_number", "AUR-12345678")]),
    ],
)
def test_personal_data_next_to_the_brands_numbers_is_still_found(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert find_own(text) == expected


def test_without_own_contacts_the_brands_number_is_a_phone_number() -> None:
    # The brand's contacts come from brand.yml (PersonalDataDetector); none given, none known.
    assert find("I rang 210 000 000") == [("phone", "210 000 000")]
