"""Stock Rasa beside the shipped bot (afterhours/bench/stock.py): config, cache, decisions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from afterhours.bench import stock
from afterhours.bench.stock import data_hash, decision_from_actions, stock_config_path, stock_model

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")
REPO = Path(__file__).resolve().parents[1]


def test_the_stock_config_is_rasas_own_default() -> None:
    config = yaml.safe_load(stock_config_path().read_text(encoding="utf-8"))
    pipeline = [c["name"] for c in config["pipeline"]]
    assert pipeline == [
        "WhitespaceTokenizer",
        "RegexFeaturizer",
        "LexicalSyntacticFeaturizer",
        "CountVectorsFeaturizer",
        "CountVectorsFeaturizer",
        "DIETClassifier",
        "EntitySynonymMapper",
        "ResponseSelector",
        "FallbackClassifier",
    ]
    assert [p["name"] for p in config["policies"]] == [
        "MemoizationPolicy",
        "RulePolicy",
        "UnexpecTEDIntentPolicy",
        "TEDPolicy",
    ]
    assert config["pipeline"][5]["epochs"] == 100


def test_the_training_command_uses_the_repositorys_domain_and_data(tmp_path: Path) -> None:
    command = stock.train_command(stock_config_path(), tmp_path, "stock-x")
    assert command[1:4] == ["-m", "rasa", "train"]
    assert str(REPO / "domain.yml") in command and str(REPO / "data" / "nlu") in command
    assert str(REPO / "data" / "demo") not in command  # replay files, not training data
    assert command[command.index("--config") + 1] == str(stock_config_path())


def small_repo(root: Path) -> Path:
    """A copy of the repository's domain and training data."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "domain.yml", root / "domain.yml")
    shutil.copytree(REPO / "data" / "nlu", root / "data" / "nlu")
    shutil.copytree(REPO / "data" / "rules", root / "data" / "rules")
    return root


def test_the_hash_follows_the_data(tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    first = data_hash(repo)
    assert data_hash(repo) == first
    example = next((repo / "data" / "nlu" / "en").glob("*.yml"))
    example.write_text(example.read_text(encoding="utf-8") + "\n# one more line\n")
    assert data_hash(repo) != first
    (repo / "data" / "demo").mkdir()
    changed = data_hash(repo)
    (repo / "data" / "demo" / "night.jsonl").write_text("{}\n")  # not training data
    assert data_hash(repo) == changed


def test_a_cached_model_is_not_trained_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = small_repo(tmp_path / "repo")
    cache = tmp_path / "cache"
    trainings: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        trainings.append(command)
        out = Path(command[command.index("--out") + 1])
        name = command[command.index("--fixed-model-name") + 1]
        (out / f"{name}.tar.gz").write_bytes(b"model")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(stock.subprocess, "run", fake_run)
    model = stock_model(cache, repo, quiet=True)
    assert model == cache / f"stock-{data_hash(repo)}.tar.gz" and model.read_bytes() == b"model"
    assert stock_model(cache, repo, quiet=True) == model
    assert len(trainings) == 1
    assert [p.name for p in cache.iterdir()] == [model.name]  # no scratch folder left


def test_a_failed_training_leaves_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = small_repo(tmp_path / "repo")

    def failing(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        kwargs["stdout"].write("InvalidConfigException: something\n")
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(stock.subprocess, "run", failing)
    with pytest.raises(RuntimeError, match="InvalidConfigException"):
        stock_model(tmp_path / "cache", repo, quiet=True)
    assert list((tmp_path / "cache").iterdir()) == []


# -- decisions read from the actions -------------------------------------------------------------


def message(text: str, intent: str, faq_key: str | None = None) -> UserUttered:
    """A parsed customer message (stock pipeline: intent, and the selector's FAQ choice)."""
    parse: dict[str, Any] = {"text": text, "intent": {"name": intent, "confidence": 0.9}}
    if faq_key:
        parse["response_selector"] = {"faq": {"response": {"intent_response_key": faq_key}}}
    return UserUttered(text, intent={"name": intent, "confidence": 0.9}, parse_data=parse)


def test_an_utterance_is_an_answer_with_its_topic() -> None:
    events = [
        ActionExecuted("action_listen"),
        message("roaming?", "faq", "faq/roaming"),
        ActionExecuted("action_unlikely_intent"),
        ActionExecuted("utter_faq"),
        ActionExecuted("action_listen"),
    ]
    assert decision_from_actions(events) == {
        "decision": "answer",
        "topic": "faq/roaming",
        "language": None,
    }
    # Stock Rasa's ResponseSelector (no `retrieval_intent`) answers under "default".
    stock_parse = message("roaming?", "faq")
    stock_parse.parse_data["response_selector"] = {
        "all_retrieval_intents": ["faq"],
        "default": {"response": {"intent_response_key": "faq/roaming"}},
    }
    stock = decision_from_actions([stock_parse, ActionExecuted("utter_faq")])
    assert stock is not None and stock["topic"] == "faq/roaming"
    greet = [message("hi", "greet"), ActionExecuted("utter_greet"), BotUttered("Hi!")]
    assert decision_from_actions(greet)["topic"] == "greet"  # type: ignore[index]


def test_a_handoff_keeps_what_its_ticket_recorded() -> None:
    recorded = {"ticket": 4, "reasons": ["complex"], "reply_eta": "2026-11-28T10:00:00+00:00"}
    events = [
        message("I want a person", "request_human"),
        ActionExecuted("action_handoff"),
        SlotSet("triage", recorded),
        ActionExecuted("action_listen"),
    ]
    value = decision_from_actions(events, recorded)
    assert value is not None
    assert value["decision"] == "handoff" and value["reasons"] == ["complex"]
    assert value["ticket"] == 4 and value["reply_eta"] == recorded["reply_eta"]
    # Without a record the rules' reason for the intent stands.
    bare = decision_from_actions(
        [message("a person", "request_human"), ActionExecuted("action_handoff")]
    )
    assert bare is not None and bare["reasons"] == ["human_requested"]


def test_only_listening_is_an_ignore_with_the_rules_reason() -> None:
    events = [
        ActionExecuted("utter_faq"),
        message("follow for follow", "spam"),
        ActionExecuted("action_listen"),
    ]
    assert decision_from_actions(events) == {
        "decision": "ignore",
        "reasons": ["spam"],
        "language": None,
    }
    value = decision_from_actions([message("hmm", "faq", "faq/outage")])
    assert value is not None and value["decision"] == "ignore" and value["reasons"] == []


def test_no_message_no_decision() -> None:
    assert decision_from_actions([]) is None
    assert decision_from_actions([ActionExecuted("action_listen")]) is None
