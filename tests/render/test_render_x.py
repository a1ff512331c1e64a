import pytest

from bot.render.text import ELLIPSIS
from bot.render.x import fit_public_reply, segments, weighted_length

FAMILY = "👨\u200d👩\u200d👧\u200d👦"
ENGLAND = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"


def test_ascii_280_is_the_limit() -> None:
    assert weighted_length("a" * 280) == 280
    assert weighted_length("a" * 281) == 281


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # twitter-text v3 conformance cases (WeightedTweetsWithDiscountedEmojiCounterTest)
        ("Hi http://test.co", 26),
        ("http://test.co", 23),
        ("https://www.twitter.com/aloha " * 10, 240),
        ("H🐱☺" + FAMILY, 7),
        ("😷👾😡🔥💩", 10),
        ("🙋🏽👨\u200d🎤", 4),
        ("Unicode 10.0 emoji: 🤪; 🧕; 🧕🏾; " + ENGLAND, 34),
        ("Unicode 9.0 emoji: 🤠; 💃; 💃🏾", 29),
        ("ÁB", 2),
        ("A\ufb2c", 4),  # NFC turns this into 3 Hebrew code points
        ("ABC\u202a\uffffABC\ufffe", 12),
        ("\u2066\u202ahttp://foobar.پاکستان/\u202c\u2069", 31),
        ("randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68),
        (FAMILY * 140, 280),
    ],
)
def test_conformance_counts(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com/" + "x" * 200, 23),
        ("http://example.com?foo=$bar.;baz?BAZ&c=d-#top/?stories", 23),
        ("http://example.com?q=stories+", 23 + 1),  # "+" cannot end a query
        ("example.com", 23),
        ("www.example.com", 23),
        ("foo.co.jp", 23),
        ("t.co", 23),
        ("aurora.pt/ajuda", 23),
        ("aurora.pt", 9),  # name.ccTLD without scheme or path is not a link to X
        ("see example.com.", 4 + 23 + 1),  # the full stop is not part of the URL
        ("help@aurora.com", 5 + 10),  # an e-mail domain is not a URL
        ('http://en.wikipedia.org/wiki/"#Punctuation', 23 + 13),
        # Reserved TLDs are not links to X; where X might think otherwise we never count less.
        ("aurora.example/chat", 23),
        ("https://aurora.example/chat", 27),
        ("help@aurora.example", 19),
        ("fim.Obrigado", 12),
    ],
)
def test_urls(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("😀", 2),
        ("👍🏽", 2),
        (FAMILY, 2),
        ("🏳️\u200d🌈", 2),
        ("🇵🇹", 2),
        ("🇵🇹🇧🇷", 4),
        ("1️⃣", 2),
        ("#️⃣", 2),
        ("❤️", 2),
        ("❤", 2),
        ("©", 1),  # text-default pictograph without VS16 is an ordinary character
        ("©️", 2),
        (ENGLAND, 2),
        ("日本語", 6),
        ("안녕", 4),
        ("ação à ñ ü é", 12),
        ("a\u0301", 1),  # NFC-normalised to á
        ("“quoted” – dash", 15),
        ("…", 2),
    ],
)
def test_characters_and_emoji(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


def test_url_segments_are_atomic() -> None:
    text = "Veja https://example.com/a/b e 👨\u200d👩\u200d👧 já"
    kinds = [(seg.kind, text[seg.start : seg.end]) for seg in segments(text) if seg.kind != "char"]
    assert kinds == [("url", "https://example.com/a/b"), ("emoji", "👨\u200d👩\u200d👧")]


LONG_PT = (
    "Olá! Lamentamos o incómodo com a sua ligação à internet. "
    "Primeiro, desligue o router da corrente durante 30 segundos e volte a ligá-lo. "
    "Se as luzes não ficarem verdes, verifique os cabos e confirme na página de estado "
    "https://status.aurora.example se há uma avaria na sua zona. "
    "Pode também contactar-nos pelo telefone +351 210 000 000 (24 h para avarias), "
    "por e-mail help@aurora.example ou no chat https://aurora.example/chat. "
    "Obrigado pela paciência!"
)


def test_short_reply_is_addressed_unchanged() -> None:
    assert fit_public_reply("Obrigado! 😊", "AuroraFan") == "@AuroraFan Obrigado! 😊"
    assert fit_public_reply("Obrigado!", "@AuroraFan") == "@AuroraFan Obrigado!"
    assert fit_public_reply("  @aurorafan  Obrigado!", "@AuroraFan") == "@AuroraFan Obrigado!"
    assert fit_public_reply("@AuroraFanClub hi", "AuroraFan") == "@AuroraFan @AuroraFanClub hi"


def test_long_portuguese_reply_drops_trailing_sentences() -> None:
    reply = fit_public_reply(LONG_PT, "@joao_silva")
    assert weighted_length(reply) <= 280
    assert reply.startswith("@joao_silva Olá! Lamentamos")
    body = reply.removeprefix("@joao_silva ")
    assert LONG_PT.startswith(body)
    assert body.endswith(".")  # whole sentences only
    assert len(body) < len(LONG_PT)


def test_reply_exactly_at_limit_is_kept_whole() -> None:
    body = "x" * (280 - len("@ana "))
    assert fit_public_reply(body, "ana") == "@ana " + body
    cut = fit_public_reply(body + " y", "ana")
    assert weighted_length(cut) <= 280 and cut.endswith(ELLIPSIS)


def test_single_long_sentence_is_cut_at_a_word_with_ellipsis() -> None:
    sentence = "Lamentamos muito o incómodo causado pela falha de ligação " * 8
    reply = fit_public_reply(sentence, "ana")
    assert weighted_length(reply) <= 280
    assert reply.endswith(ELLIPSIS)
    head = reply.removeprefix("@ana ").removesuffix(ELLIPSIS)
    assert sentence.startswith(head)
    assert sentence[len(head)] == " "  # the cut is at a word boundary
    assert weighted_length(reply) > 260  # and it is not wastefully short


def test_cut_never_splits_a_url_or_an_emoji() -> None:
    url = "https://example.com/" + "p" * 60
    body = "a " * 120 + url + " " + FAMILY * 30
    for limit in range(40, 281, 7):
        reply = fit_public_reply(body, "ana", limit=limit)
        assert weighted_length(reply) <= limit
        assert url not in reply or url + " " in reply or reply.endswith(url + " " + ELLIPSIS)
        assert "https://" not in reply or url in reply
        assert reply.count("\u200d") % 3 == 0  # whole families only


def test_unbreakable_text_falls_back_to_whole_characters() -> None:
    reply = fit_public_reply(FAMILY * 200, "ana")
    assert weighted_length(reply) <= 280
    assert reply.endswith(ELLIPSIS)
    assert reply.removeprefix("@ana ").removesuffix(ELLIPSIS) == FAMILY * 136


def test_invalid_characters_are_removed() -> None:
    assert fit_public_reply("ok\ufeff now\ufffe", "ana") == "@ana ok now"


def test_nothing_fits_returns_the_mention() -> None:
    assert fit_public_reply("", "ana") == "@ana"
    assert fit_public_reply("https://example.com/long", "ana", limit=10) == "@ana"


@pytest.mark.parametrize("handle", ["", "@", "  ", "two words"])
def test_bad_handle(handle: str) -> None:
    with pytest.raises(ValueError):
        fit_public_reply("hi", handle)


def test_handle_longer_than_limit() -> None:
    with pytest.raises(ValueError):
        fit_public_reply("hi", "abcdef", limit=5)
