import itertools

import pytest

from bot.render.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SmsInfo,
    encoding_of,
    fit_sms,
    is_gsm7,
    transliterate_to_gsm7,
)


def test_tables() -> None:
    assert len(GSM7_BASIC) == 127  # 128 positions minus the escape to the extension table
    assert set(GSM7_EXTENSION) == set("\f^{}\\[~]|€")
    assert is_gsm7("é è ù ì ò Ç Ñ ñ ü Ü ä ö à ¿ ¡ £ ¥ § € ^ { } [ ] ~ | \\ @ $ _ Δ")
    for char in "çãõêíóúâôáÀÈ“”–—…👍ªº`":
        assert not is_gsm7(char), char


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsInfo("GSM-7", 0, 1, 160)),
        ("a" * 160, SmsInfo("GSM-7", 160, 1, 160)),
        ("a" * 161, SmsInfo("GSM-7", 161, 2, 153)),
        ("a" * 306, SmsInfo("GSM-7", 306, 2, 153)),
        ("a" * 307, SmsInfo("GSM-7", 307, 3, 153)),
        ("€" * 80, SmsInfo("GSM-7", 160, 1, 160)),
        ("€" * 81, SmsInfo("GSM-7", 162, 2, 153)),
        ("a" * 159 + "€", SmsInfo("GSM-7", 161, 2, 153)),
        ("ã" * 70, SmsInfo("UCS-2", 70, 1, 70)),
        ("ã" * 71, SmsInfo("UCS-2", 71, 2, 67)),
        ("ã" * 134, SmsInfo("UCS-2", 134, 2, 67)),
        ("ã" * 135, SmsInfo("UCS-2", 135, 3, 67)),
        ("😀", SmsInfo("UCS-2", 2, 1, 70)),
        ("a" * 68 + "😀", SmsInfo("UCS-2", 70, 1, 70)),
        ("a" * 69 + "😀", SmsInfo("UCS-2", 71, 2, 67)),
    ],
)
def test_encoding_boundaries(text: str, expected: SmsInfo) -> None:
    assert encoding_of(text) == expected


def test_one_emoji_forces_ucs2_for_everything() -> None:
    info = encoding_of("a" * 100 + "👍")
    assert info.encoding == "UCS-2" and info.units == 102 and info.segments == 2


def test_pairs_never_straddle_segments() -> None:
    # 152 + 2 septets: the € cannot be split, so it starts the second segment.
    assert encoding_of("a" * 152 + "€" + "a" * 152).segments == 3
    assert encoding_of("a" * 151 + "€" + "a" * 153).segments == 2
    assert encoding_of("a" * 66 + "😀" + "a" * 66).segments == 3


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("á ã õ ê í ó ú â ô ç", "a a o e i o u a o c"),
        ("nº 5, 1ª vez", "no 5, 1a vez"),
        ("“olá” ‘sim’", "\"ola\" 'sim'"),
        ("a – b — c", "a - b - c"),
        ("espere…", "espere..."),
        ("Obrigado 👍🏽!", "Obrigado !"),
        ("Olá 👋 tudo bem 👨\u200d👩\u200d👧 🇵🇹", "Ola tudo bem"),
        ("São João", "Sao Joao"),
        ("Ação", "Acao"),
        ("À tarde, È così", "A tarde, E così"),
        ("é è ù ì ò Ç Ñ ñ ü Ü ä ö à ¿ ¡ £ ¥ § €", "é è ù ì ò Ç Ñ ñ ü Ü ä ö à ¿ ¡ £ ¥ § €"),
        ("perché città", "perché città"),
        ("niño, ¿qué tal?", "niño, ¿qué tal?"),
        ("½ ©", "1/2 (c)"),
        ("e\u0301", "é"),
        ("Привет", "??????"),
    ],
)
def test_transliteration(source: str, expected: str) -> None:
    result = transliterate_to_gsm7(source)
    assert result == expected
    assert is_gsm7(result)


PT_LONG = (
    "Olá! Para pagar a sua fatura pode usar débito direto, cartão de crédito, referência "
    "Multibanco ou a aplicação Aurora. A fatura é emitida no dia 1 de cada mês e o pagamento "
    "é cobrado até ao dia 20. Se precisar de uma segunda via, descarregue-a na área de cliente "
    "em https://aurora.example/faturas. Para mais ajuda ligue +351 210 000 000 ou escreva para "
    "help@aurora.example. Obrigado pela preferência e bom dia!"
)


def test_fitting_text_is_returned_as_is() -> None:
    for text in ("Olá! Obrigado 😊", "ã" * 134, "a" * 306):
        assert fit_sms(text) == text


def test_accented_text_is_transliterated_when_that_makes_it_fit() -> None:
    text = "Informação: " + "ligação à internet " * 8  # 164 characters, UCS-2
    assert encoding_of(text).segments == 3
    fitted = fit_sms(text)
    assert fitted == transliterate_to_gsm7(text)
    assert encoding_of(fitted) == SmsInfo("GSM-7", len(text), 2, 153)
    assert "à" in fitted  # GSM-7 has à


def test_portuguese_long_answer_fits_two_segments() -> None:
    assert encoding_of(PT_LONG).segments > 2
    fitted = fit_sms(PT_LONG)
    info = encoding_of(fitted)
    assert info.encoding == "GSM-7" and info.segments <= 2
    assert fitted.startswith("Ola! Para pagar a sua fatura")
    assert fitted.endswith(".")  # whole sentences dropped, not a mid-word cut
    assert "https://aurora.example/faturas" in fitted


def test_shortening_keeps_phone_numbers_and_urls_whole() -> None:
    repeated = "Ligue para +351 210 000 000 ou veja https://aurora.example/ajuda/contactos " * 12
    # Move the text so that the cut point sweeps across the number and the link.
    for padding, segments in itertools.product(range(0, 60, 2), (1, 2, 3)):
        text = "ok " * padding + repeated
        fitted = fit_sms(text, max_segments=segments)
        assert encoding_of(fitted).segments <= segments
        assert fitted.endswith("...")
        body = fitted.removesuffix("...").rstrip()
        assert text.startswith(body)
        assert fitted.count("+351") == fitted.count("+351 210 000 000")
        assert fitted.count("https://") == fitted.count("https://aurora.example/ajuda/contactos")


def test_lossy_text_is_not_transliterated_but_shortened() -> None:
    text = "Здравствуйте! " + "Спасибо за ваше сообщение. " * 10
    fitted = fit_sms(text)
    info = encoding_of(fitted)
    assert info.encoding == "UCS-2" and info.segments <= 2
    assert text.startswith(fitted.removesuffix("...").rstrip())


def test_bad_max_segments() -> None:
    with pytest.raises(ValueError):
        fit_sms("hi", max_segments=0)
