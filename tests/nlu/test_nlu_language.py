"""Language guessing on short customer messages (no Rasa, no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.language import LanguageGuess, LanguageGuesser, content_words

LANGUAGES = ["en", "pt", "es", "it"]

SHORT_MESSAGES: dict[str, list[str]] = {
    "en": [
        "my internet is down",
        "thanks a lot",
        "how do I pay my bill?",
        "no signal on the tv",
        "where is the nearest store",
        "I want to cancel my contract",
        "can I talk to a person",
        "is there an outage in Lisbon",
        "good morning",
        "when is my bill due",
        "does my plan include roaming in Spain?",
        "the app won't let me log in",
        "thank you",
        "my sim is blocked, what's the PUK",
        "what plans do you have",
        "how much data do I have left",
        "the technician never showed up",
        "I'm moving house next month",
        "still not working",
        "are you a bot?",
        "need a copy of my last invoice",
        "how do I change the wifi name",
        "no internet since this morning",
        "can you call me back",
        "my bill is wrong",
        "how long will the outage last",
        "I lost my phone",
        "where can I buy a new router",
        "is the shop open on sunday",
        "my TV box keeps restarting",
        "I need to speak to someone",
        "the signal is really weak at home",
        "why was I charged twice",
        "reset my password please",
    ],
    "pt": [
        "olá",
        "obrigado",
        "a internet não funciona",
        "como pago a fatura?",
        "bom dia",
        "não tenho sinal na televisão",
        "quero cancelar o contrato",
        "onde fica a loja mais próxima",
        "há alguma avaria em Lisboa?",
        "preciso de falar com alguém",
        "o meu cartão SIM está bloqueado",
        "você pode me ajudar?",
        "meu celular não pega",
        "obrigada!",
        "boa noite",
        "tá sem internet aqui",
        "quanto custa o tarifário com fibra",
        "quando chega a fatura deste mês?",
        "vou mudar de casa, como faço?",
        "o técnico não apareceu",
        "ainda não funciona",
        "como vejo os dados móveis que me restam",
        "estou sem net desde manhã",
        "podem ligar-me?",
        "a fatura está errada",
        "quanto tempo vai durar a avaria",
        "perdi o telemóvel",
        "onde compro um router novo",
        "a loja abre ao domingo?",
        "a box da TV reinicia sempre",
        "preciso de falar com alguém",
        "o sinal é muito fraco em casa",
        "porque me cobraram duas vezes",
        "quero mudar a palavra-passe",
    ],
    "es": [
        "hola",
        "gracias",
        "no tengo internet",
        "¿cómo pago la factura?",
        "buenos días",
        "la tele no tiene señal",
        "quiero darme de baja",
        "cuál es la contraseña del wifi",
        "dónde está la tienda más cercana",
        "hay una avería en Madrid?",
        "necesito hablar con una persona",
        "mi tarjeta SIM está bloqueada",
        "muchas gracias",
        "buenas noches",
        "¿me podéis ayudar?",
        "cuánto cuesta la fibra",
        "vale gracias",
        "el técnico no ha venido",
        "me mudo de casa el mes que viene",
        "sigue sin funcionar",
        "cuántos datos me quedan",
        "¿eres un robot?",
        "sin internet desde esta mañana",
        "¿me podéis llamar?",
        "la factura está mal",
        "cuánto va a durar la avería",
        "he perdido el móvil",
        "dónde compro un router nuevo",
        "¿la tienda abre el domingo?",
        "el deco se reinicia todo el rato",
        "necesito hablar con alguien",
        "hay muy poca cobertura en casa",
        "por qué me habéis cobrado dos veces",
        "quiero cambiar la contraseña",
    ],
    "it": [
        "ciao",
        "grazie",
        "internet non funziona",
        "come pago la bolletta?",
        "buongiorno",
        "la tv non ha segnale",
        "voglio disdire il contratto",
        "qual è la password del wifi",
        "dov'è il negozio più vicino",
        "c'è un guasto a Milano?",
        "vorrei parlare con un operatore",
        "la mia SIM è bloccata",
        "grazie mille",
        "buonasera",
        "mi potete aiutare?",
        "quanto costa la fibra",
        "il tecnico non è venuto",
        "sto traslocando, cosa devo fare?",
        "ancora non funziona",
        "quanti giga mi restano",
        "sei un bot?",
        "quando scade la bolletta",
        "senza internet da stamattina",
        "mi potete richiamare?",
        "la bolletta è sbagliata",
        "quanto durerà il guasto",
        "ho perso il telefono",
        "dove compro un nuovo modem",
        "il negozio è aperto domenica?",
        "il decoder si riavvia sempre",
        "devo parlare con qualcuno",
        "il segnale è debolissimo a casa",
        "perché mi avete addebitato due volte",
        "voglio cambiare la password",
    ],
}


@pytest.fixture(scope="module")
def guesser() -> LanguageGuesser:
    return LanguageGuesser(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_short_messages_are_mostly_right(guesser: LanguageGuesser, language: str) -> None:
    messages = SHORT_MESSAGES[language]
    assert len(messages) >= 15
    wrong = [m for m in messages if guesser.guess(m).code != language]
    assert len(wrong) <= 0.1 * len(messages), wrong


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("olá", "pt"),
        ("Hola!!", "es"),
        ("ciao 👋", "it"),
        ("Obrigado 🙏", "pt"),
        ("grazie", "it"),
        ("gracias", "es"),
        ("Muito obrigada!", "pt"),
        ("thank you", "en"),
    ],
)
def test_greeting_hints_are_reliable(guesser: LanguageGuesser, text: str, language: str) -> None:
    guess = guesser.guess(text, previous="en" if language != "en" else "pt")
    assert guess.code == language
    assert guess.reliable


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        "OK!",
        "👍",
        "😡😡😡",
        "hi",
        "12345",
        "https://aurora.example/status",
        "@AuroraCare",
        "@AuroraCare 👍",
        "#fail",
        "",
        "   ",
        "\x00\x07",
        "lol",
        "привет как дела",
        "你好 hello",
        "wifi password?",
    ],
)
def test_unclear_messages_keep_the_conversation_language(
    guesser: LanguageGuesser, text: str
) -> None:
    kept = guesser.guess(text, previous="it")
    assert (kept.code, kept.reliable) == ("it", False)
    first = guesser.guess(text)
    assert (first.code, first.reliable) == ("en", False)


def test_unknown_previous_is_ignored(guesser: LanguageGuesser) -> None:
    assert guesser.guess("ok", previous="de").code == "en"


def test_a_clear_message_overrides_the_previous_language(guesser: LanguageGuesser) -> None:
    guess = guesser.guess("a minha internet não funciona desde ontem", previous="en")
    assert guess.code == "pt"
    assert guess.reliable
    assert 0.6 <= guess.confidence <= 1.0


def test_an_unsure_guess_prefers_the_conversation_language(guesser: LanguageGuesser) -> None:
    # Lingua alone leans Spanish here; in a Portuguese conversation it stays Portuguese.
    assert guesser.guess("quero cancelar o contrato", previous="pt").code == "pt"


def test_mentions_links_and_hashtags_are_ignored(guesser: LanguageGuesser) -> None:
    text = "@AuroraCare @joao_silva #fail https://t.co/abc a internet não funciona desde ontem"
    assert content_words(text) == ["a", "internet", "não", "funciona", "desde", "ontem"]
    assert guesser.guess(text).code == "pt"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("sulla fattura c'è Entidade 21312 Referência 845 022 316, posso pagare lì?", "it"),
        ("the bill says Entidade 21312 Referência 845 022 316, can I pay at any ATM?", "en"),
        ("tenho a entidade e a referência, onde é que pago?", "pt"),
    ],
)
def test_multibanco_labels_quoted_from_a_bill_do_not_make_it_portuguese(
    guesser: LanguageGuesser, text: str, language: str
) -> None:
    assert guesser.guess(text).code == language


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("você pode me ajudar?", "pt_BR"),
        ("meu celular não pega", "pt_BR"),
        ("tá sem internet", "pt_BR"),
        ("vc pode ver o boleto?", "pt_BR"),
        ("a minha internet não funciona desde ontem", None),
        ("o telemóvel não tem rede", None),
    ],
)
def test_brazilian_locale_hint(guesser: LanguageGuesser, text: str, hint: str | None) -> None:
    guess = guesser.guess(text)
    assert guess.code == "pt"
    assert guess.locale_hint == hint


def test_no_locale_hint_for_other_languages(guesser: LanguageGuesser) -> None:
    assert guesser.guess("the internet is down").locale_hint is None


def test_as_dict_has_the_documented_keys() -> None:
    value = LanguageGuess("pt", 0.96789, True, "pt_BR").as_dict()
    assert value == {"code": "pt", "confidence": 0.97, "reliable": True}


def test_long_and_odd_texts_are_fast_and_safe(guesser: LanguageGuesser) -> None:
    long_text = "a minha internet não funciona " * 400  # 12,000 characters
    assert guesser.guess(long_text).code == "pt"
    assert guesser.guess("😡" * 5000).reliable is False
    assert guesser.guess("ok\x00\x1b[31m\u200b").code == "en"


def test_restricted_to_the_given_languages() -> None:
    only_two = LanguageGuesser(["pt", "es"])
    assert only_two.guess("my internet is down today").code in {"pt", "es"}
    assert only_two.guess("ok").code == "pt"


def test_empty_language_list_is_rejected() -> None:
    with pytest.raises(ValueError):
        LanguageGuesser([])


def test_a_language_without_lingua_support_still_works(tmp_path: Path) -> None:
    # A language lingua lacks ("xx") can still be chosen through its phrase file: language is data.
    (tmp_path / "language.common.yml").write_text("unclear: [ok]\n", encoding="utf-8")
    (tmp_path / "language.xx.yml").write_text("phrases: [blorp blorp]\n", encoding="utf-8")
    guesser = LanguageGuesser(["en", "xx"], lexicon_dir=str(tmp_path))
    assert guesser.guess("Blorp blorp!").code == "xx"
    assert guesser.guess("ok", previous="xx").code == "xx"
