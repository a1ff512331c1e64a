"""The Rasa graph components that wrap the NLU signals.

Rasa's engine (and so TensorFlow) is imported by the `rasa` fixture, not at module level, so that
collecting the fast tests stays fast; these tests are marked slow like every test that loads it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = pytest.mark.slow

LANGUAGES = ["en", "pt", "es", "it"]
EMOTION_LABELS = {"anger", "distress", "churn_threat", "complaint_threat"}
CONFIG: dict[str, dict[str, Any]] = {
    "LanguageDetector": {"languages": LANGUAGES},
    "PersonalDataDetector": {
        "account_number_pattern": r"\bAUR-?\d{8}\b",
        "phone_regions": ["PT", "ES", "IT", "GB", "BR"],
        "own_contacts": ["+351 210 000 000", "help@aurora.example"],
    },
    "EmotionDetector": {"languages": LANGUAGES},
    "AddressingDetector": {"handle": "@AuroraCare"},
}
ORDER = ["LanguageDetector", "PersonalDataDetector", "EmotionDetector", "AddressingDetector"]


@pytest.fixture(scope="module")
def rasa() -> SimpleNamespace:
    """Rasa's engine and our components, imported only when these tests run."""
    from rasa.core.channels import UserMessage
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.engine.validation import validate
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.slots import TextSlot
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.data import TrainingType
    from rasa.shared.exceptions import InvalidConfigException
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu import components

    return SimpleNamespace(
        UserMessage=UserMessage,
        ExecutionContext=ExecutionContext,
        GraphSchema=GraphSchema,
        DefaultV1Recipe=DefaultV1Recipe,
        DaskGraphRunner=DaskGraphRunner,
        LocalModelStorage=LocalModelStorage,
        Resource=Resource,
        validate=validate,
        UserUttered=UserUttered,
        TextSlot=TextSlot,
        DialogueStateTracker=DialogueStateTracker,
        TrainingType=TrainingType,
        InvalidConfigException=InvalidConfigException,
        Message=Message,
        TrainingData=TrainingData,
        components=components,
    )


@pytest.fixture()
def no_brand(rasa: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The components, with brand.yml off limits: explicit config must not read it."""

    def refuse() -> Any:
        raise AssertionError("load_brand() called although the config gave every value")

    monkeypatch.setattr(rasa.components, "_brand", refuse)
    return rasa


def _create(r: SimpleNamespace, name: str, config: dict[str, Any], tmp_path: Path) -> Any:
    cls = getattr(r.components, name)
    return cls.create(
        {**cls.get_default_config(), **config},
        r.LocalModelStorage(tmp_path),
        r.Resource(name),
        r.ExecutionContext(r.GraphSchema({}), "test"),
    )


def _pipeline(r: SimpleNamespace, tmp_path: Path) -> list[Any]:
    return [_create(r, name, CONFIG[name], tmp_path) for name in ORDER]


def _run(pipeline: list[Any], message: Any) -> dict[str, Any]:
    messages = [message]
    for component in pipeline:
        messages = component.process(messages)
    parsed: dict[str, Any] = messages[0].as_dict(only_output_properties=True)
    return parsed


def test_each_component_sets_its_parse_data_key(no_brand: SimpleNamespace, tmp_path: Path) -> None:
    r = no_brand
    text = "@AuroraCare estou FURIOSO!!! 3 dias sem internet. NIF 123456789"
    metadata = {"channel": "x", "public": True, "sender": "ana"}
    parsed = _run(_pipeline(r, tmp_path), r.Message(data={"text": text, "metadata": metadata}))

    assert parsed["language"]["code"] == "pt"
    assert {"code", "confidence", "reliable"} <= set(parsed["language"])
    assert parsed["personal_data"] == [{"kind": "nif", "start": 54, "end": 63}]
    assert parsed["emotion"]["label"] == "anger"
    assert set(parsed["emotion"]) == {"label", "score", "cues"}
    assert parsed["addressing"] == {"addressed": True, "why": "leading mention of the brand"}


def test_addressing_reads_public_from_metadata(no_brand: SimpleNamespace, tmp_path: Path) -> None:
    r = no_brand
    detector = _create(r, "AddressingDetector", CONFIG["AddressingDetector"], tmp_path)
    text = "@ana have you tried @AuroraCare?"
    public = r.Message(data={"text": text, "metadata": {"channel": "x", "public": True}})
    private = r.Message(data={"text": text, "metadata": {"channel": "telegram", "public": False}})
    missing = r.Message(data={"text": text})
    detector.process([public, private, missing])
    assert public.get("addressing")["addressed"] is False
    assert private.get("addressing")["addressed"] is True
    assert missing.get("addressing") == {"addressed": True, "why": "private message"}


def test_addressing_reads_the_no_request_intent_and_the_emotion(
    no_brand: SimpleNamespace, tmp_path: Path
) -> None:
    r = no_brand
    config = {"handle": "@AuroraCare", "no_request_intent": "no_request"}
    detector = _create(r, "AddressingDetector", {**config, "no_request_confidence": 0.35}, tmp_path)
    public = {"channel": "x", "public": True}

    def post(ranking: list[tuple[str, float]], label: str | None = None) -> Any:
        message = r.Message(data={"text": "Aurora sponsors the marathon @AuroraCare"})
        message.set("metadata", public)
        message.set("intent", {"name": ranking[0][0], "confidence": ranking[0][1]})
        message.set("intent_ranking", [{"name": n, "confidence": c} for n, c in ranking])
        message.set("emotion", {"label": label, "score": 0.0, "cues": []})
        detector.process([message])
        return message.get("addressing")

    assert post([("no_request", 0.9)]) == {"addressed": False, "why": "asks the brand nothing"}
    # FallbackClassifier's doubt is passed over for the classifier's best intent, above 0.35.
    assert post([("nlu_fallback", 0.45), ("no_request", 0.4)])["addressed"] is False
    assert post([("nlu_fallback", 0.45), ("no_request", 0.3)])["addressed"] is True
    assert post([("faq", 0.6), ("no_request", 0.3)])["addressed"] is True
    # Anger about the brand is never left alone, however little it asks.
    assert post([("no_request", 0.9)], label="anger")["addressed"] is True
    # Without `no_request_intent` the text alone decides.
    plain = _create(r, "AddressingDetector", {"handle": "@AuroraCare"}, tmp_path)
    message = r.Message(data={"text": "Aurora sponsors the marathon @AuroraCare"})
    message.set("metadata", public)
    message.set("intent", {"name": "no_request", "confidence": 0.9})
    plain.process([message])
    assert message.get("addressing")["addressed"] is True


def test_emotion_without_a_language_guesses_one(no_brand: SimpleNamespace, tmp_path: Path) -> None:
    r = no_brand
    detector = _create(r, "EmotionDetector", CONFIG["EmotionDetector"], tmp_path)
    message = r.Message(data={"text": "Estoy desesperada, mi madre de 90 años está sin teléfono"})
    detector.process([message])
    assert message.get("emotion")["label"] == "distress"


def test_brazilian_portuguese_carries_a_locale_hint(
    no_brand: SimpleNamespace, tmp_path: Path
) -> None:
    r = no_brand
    detector = _create(r, "LanguageDetector", CONFIG["LanguageDetector"], tmp_path)
    message = r.Message(data={"text": "você pode ver meu boleto?"})
    detector.process([message])
    assert message.get("language")["code"] == "pt"
    assert message.get("language")["locale_hint"] == "pt_BR"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "😡😡😡",
        "👍",
        "\x00\x01\x1b[31m\u200b",
        "привет 你好 hello",
        "a" * 10000,
        ("a minha internet não funciona, NIF 123456789. " * 250)[:10000],
    ],
)
def test_components_are_robust(no_brand: SimpleNamespace, tmp_path: Path, text: str) -> None:
    r = no_brand
    parsed = _run(_pipeline(r, tmp_path), r.Message(data={"text": text, "metadata": None}))
    assert parsed["language"]["code"] in LANGUAGES
    assert isinstance(parsed["personal_data"], list)
    assert parsed["emotion"]["label"] in {None, *EMOTION_LABELS}
    assert parsed["addressing"]["addressed"] is True


def test_long_texts_are_scanned_whole_for_personal_data(
    no_brand: SimpleNamespace, tmp_path: Path
) -> None:
    r = no_brand
    text = "bla " * 2500 + "IBAN PT50000201231234567890154"
    parsed = _run(_pipeline(r, tmp_path), r.Message(data={"text": text}))
    assert [span["kind"] for span in parsed["personal_data"]] == ["iban"]


def test_training_data_passes_through(no_brand: SimpleNamespace, tmp_path: Path) -> None:
    r = no_brand
    data = r.TrainingData([r.Message(data={"text": "hi", "intent": "greet"})])
    for component in _pipeline(r, tmp_path):
        assert component.process_training_data(data) is data
    assert data.training_examples[0].get("language") is None


def test_missing_config_comes_from_the_brand_and_config_overrides_it(
    rasa: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    brand = SimpleNamespace(
        languages=["es", "en"],
        handle="@MarcaCare",
        account_number_pattern=r"\bMC\d{6}\b",
        phone_regions=["ES"],
        contacts=SimpleNamespace(phone="+34 910 000 000", email="ayuda@marca.example"),
    )
    calls: list[int] = []

    def fake_brand() -> Any:
        calls.append(1)
        return brand

    monkeypatch.setattr(rasa.components, "_brand", fake_brand)
    assert _create(rasa, "LanguageDetector", {}, tmp_path).languages == ["es", "en"]
    overridden = _create(rasa, "LanguageDetector", {"languages": ["it", "en"]}, tmp_path)
    assert overridden.languages == ["it", "en"]
    data = _create(rasa, "PersonalDataDetector", {"phone_regions": ["GB"]}, tmp_path)
    assert (data.account_number_pattern, data.phone_regions) == (r"\bMC\d{6}\b", ["GB"])
    # The brand's own contacts, quoted back by a customer, are not personal data.
    assert data.own_contacts == ["+34 910 000 000", "ayuda@marca.example"]
    assert _create(rasa, "AddressingDetector", {}, tmp_path).handle == "@MarcaCare"
    assert len(calls) == 3  # once per component that needed it, never for a full config


def test_bad_config_is_rejected(no_brand: SimpleNamespace, tmp_path: Path) -> None:
    r = no_brand
    bad_pattern = {"account_number_pattern": "(", "phone_regions": [], "own_contacts": []}
    with pytest.raises(r.InvalidConfigException):
        _create(r, "PersonalDataDetector", bad_pattern, tmp_path)
    with pytest.raises(r.InvalidConfigException):
        _create(r, "LanguageDetector", {"languages": []}, tmp_path)
    with pytest.raises(r.InvalidConfigException):
        _create(r, "AddressingDetector", {"handle": "@"}, tmp_path)


def test_the_language_slot_is_the_conversation_language(
    no_brand: SimpleNamespace, tmp_path: Path
) -> None:
    r = no_brand
    detector = _create(r, "LanguageDetector", CONFIG["LanguageDetector"], tmp_path)
    tracker = r.DialogueStateTracker.from_events(
        "sms:+351900000000",
        [r.UserUttered("hola", parse_data={"language": {"code": "es"}})],
        slots=[r.TextSlot("language", mappings=[], initial_value="it")],
    )
    message = r.Message(data={"text": "ok"})
    detector.process([message], tracker)
    assert message.get("language")["code"] == "it"
    message = r.Message(data={"text": "ok"})
    detector.process([message], r.DialogueStateTracker.from_events("sms:1", []))
    assert message.get("language")["code"] == "en"


def test_the_rasa_recipe_runs_them_at_inference_only(
    no_brand: SimpleNamespace, tmp_path: Path
) -> None:
    """Builds the real graphs from a config, validates them and runs the prediction graph."""
    r = no_brand
    config = {
        "recipe": "default.v1",
        "language": "en",
        "pipeline": [
            {"name": "bot.nlu.components.LanguageDetector", **CONFIG["LanguageDetector"]},
            {"name": "PersonalDataDetector", **CONFIG["PersonalDataDetector"]},
            {"name": "EmotionDetector", **CONFIG["EmotionDetector"]},
            {"name": "AddressingDetector", **CONFIG["AddressingDetector"]},
        ],
    }
    model = r.DefaultV1Recipe().graph_config_for_recipe(
        copy.deepcopy(config), {}, r.TrainingType.NLU
    )
    r.validate(model)
    classes = {getattr(r.components, name) for name in ORDER}
    assert not classes & {node.uses for node in model.train_schema.nodes.values()}
    assert classes <= {node.uses for node in model.predict_schema.nodes.values()}

    runner = r.DaskGraphRunner(
        model.predict_schema,
        r.LocalModelStorage(tmp_path),
        r.ExecutionContext(model.predict_schema, "test"),
    )
    # Earlier in the conversation the customer wrote Portuguese: a bare "ok 👍" stays Portuguese.
    tracker = r.DialogueStateTracker.from_events(
        "x:ana",
        [r.UserUttered("olá, a internet não funciona", parse_data={"language": {"code": "pt"}})],
    )
    message = r.UserMessage("ok 👍", metadata={"channel": "x", "public": False, "sender": "ana"})
    results = runner.run(
        inputs={"__message__": [message], "__tracker__": tracker}, targets=[model.nlu_target]
    )
    parsed = results[model.nlu_target][0].as_dict(only_output_properties=True)
    assert parsed["language"] == {"code": "pt", "confidence": 0.0, "reliable": False}
    assert parsed["personal_data"] == []
    assert parsed["emotion"]["label"] is None
    assert parsed["addressing"] == {"addressed": True, "why": "private message"}
