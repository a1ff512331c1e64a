"""Stock Rasa on the same data: the anchor every claim of "better than Rasa" is measured against.

Stock Rasa is the configuration `rasa init` gives a new project: its `config.yml` leaves
`pipeline` and `policies` empty and Rasa fills in its own defaults, read here from the installed
Rasa (`rasa/engine/recipes/config_files/default_config.yml`: WhitespaceTokenizer, RegexFeaturizer,
LexicalSyntacticFeaturizer, two CountVectorsFeaturizers, DIETClassifier with 100 epochs,
EntitySynonymMapper, ResponseSelector, FallbackClassifier; MemoizationPolicy, RulePolicy,
UnexpecTEDIntentPolicy, TEDPolicy), so nothing about it is typed by hand.

Only the pipeline and the policies are swapped. The domain, the training data, the rules, the
stories and the custom actions stay as they are, because they are the product a stock Rasa project
would have been given. What that means for stock Rasa, measured as it is:

- nothing detects the language, so the `language` slot is never set and the answers (every
  response variation is conditioned on it) send no text: the decision is still taken (`utter_faq`
  runs) and counted, but the customer would get nothing;
- without TriagePolicy there is no `triage` record of the decision: `decision_from_actions` reads
  it from the actions the turn ran (an `utter_*` is an answer, `action_handoff` a handoff with the
  reason its ticket got, nothing but listening an ignore);
- nothing knows the desk's hours, the addressing of public posts, personal data or emotion.

The model is trained once per content of the data, config and Rasa version (`data_hash`) into a
cache folder, so repeated benchmark runs do not retrain.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from afterhours.training import TRAINING_PATHS

REPO = Path(__file__).resolve().parents[2]
HANDOFF_ACTIONS = ("action_handoff", "action_append_to_ticket")
# Actions that take no decision: Rasa's listening, and UnexpecTEDIntentPolicy's warning.
NEUTRAL_ACTIONS = ("action_listen", "action_unlikely_intent", "action_session_start")
RETRIEVAL_INTENT = "faq"


def stock_config_path() -> Path:
    """Rasa's own default configuration: what a `rasa init` project trains with."""
    import rasa

    path = Path(rasa.__file__).parent / "engine" / "recipes" / "config_files" / "default_config.yml"
    if not path.is_file():
        raise FileNotFoundError(f"Rasa's default configuration is not at {path}")
    return path


def _training_files(repo: Path) -> list[Path]:
    files = [repo / "domain.yml"]
    for name in TRAINING_PATHS:
        folder = repo / name
        if folder.is_dir():
            files += sorted(p for p in folder.rglob("*") if p.is_file())
        elif folder.is_file():
            files.append(folder)
    return files


def data_hash(repo: Path = REPO, config: Path | None = None) -> str:
    """A digest of everything the stock model is trained from: config, domain, data, Rasa version.

    Args:
        repo: The repository whose domain.yml and data/ are hashed.
        config: The configuration (default: Rasa's own default).

    Returns:
        16 hex digits.
    """
    from importlib.metadata import version

    digest = hashlib.sha256(f"rasa {version('rasa')}\n".encode())
    config_path = config or stock_config_path()
    for path in [config_path, *_training_files(repo)]:
        name = path.relative_to(repo) if path.is_relative_to(repo) else Path(path.name)
        digest.update(f"\0{name}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def default_cache() -> Path:
    """Where stock models are kept between runs (a folder under the system's temp directory)."""
    return Path(tempfile.gettempdir()) / "afterhours-stock-rasa"


def train_command(config: Path, out: Path, name: str, repo: Path = REPO) -> list[str]:
    """Rasa's own `rasa train` with the stock config on the repository's domain and data."""
    data = [str(repo / p) for p in TRAINING_PATHS if (repo / p).exists()]
    return [
        sys.executable, "-m", "rasa", "train",
        "--config", str(config),
        "--domain", str(repo / "domain.yml"),
        "--data", *data,
        "--out", str(out),
        "--fixed-model-name", name,
    ]  # fmt: skip


def stock_model(cache: Path | None = None, repo: Path = REPO, quiet: bool = False) -> Path:
    """The stock Rasa model for the current data: from the cache, or trained into it once.

    Training runs `rasa train` in a child process (its TensorFlow and memory go with it) into a
    scratch folder inside the cache, and the finished file is moved into place, so an interrupted
    training never leaves a model that looks whole.

    Raises:
        RuntimeError: the training failed (the end of its log is in the message).
    """
    folder = cache or default_cache()
    name = f"stock-{data_hash(repo)}"
    model = folder / f"{name}.tar.gz"
    if model.is_file():
        if not quiet:
            print(f"stock Rasa: cached model {model}", flush=True)
        return model
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="training-", dir=folder) as scratch:
        log_path = Path(scratch) / "train.log"
        if not quiet:
            print(
                f"stock Rasa: training the `rasa init` config on this data (once; log {log_path})",
                flush=True,
            )
        env = dict(os.environ, RASA_TELEMETRY_ENABLED="false")
        with open(log_path, "w", encoding="utf-8") as log:
            done = subprocess.run(
                train_command(stock_config_path(), Path(scratch), name, repo),
                cwd=repo,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        trained = Path(scratch) / f"{name}.tar.gz"
        if done.returncode != 0 or not trained.is_file():
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
            raise RuntimeError(
                f"stock Rasa training failed (exit {done.returncode}):\n" + "\n".join(tail)
            )
        os.replace(trained, model)
    return model


def _turn(events: Sequence[Any]) -> tuple[Any, list[str]] | None:
    """The latest customer message and the names of the actions run after it, in order."""
    from rasa.shared.core.events import ActionExecuted, UserUttered

    actions: list[str] = []
    for event in reversed(events):
        if isinstance(event, UserUttered):
            return event, list(reversed(actions))
        if isinstance(event, ActionExecuted) and event.action_name:
            actions.append(event.action_name)
    return None


def _answer_topic(message: Any, action: str) -> str:
    if action == f"utter_{RETRIEVAL_INTENT}":
        # What `utter_faq` answers with: the ResponseSelector's choice, under the retrieval
        # intent's key or, for a selector trained on every retrieval intent (stock Rasa's, no
        # `retrieval_intent` set), under "default" — where Rasa's ActionRetrieveResponse looks.
        selector = (message.parse_data or {}).get("response_selector") or {}
        chosen = selector.get(RETRIEVAL_INTENT) or selector.get("default") or {}
        response = chosen.get("response") or {}
        return str(response.get("intent_response_key") or RETRIEVAL_INTENT)
    return action.removeprefix("utter_")


def decision_from_actions(
    events: Sequence[Any], recorded: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The decision of the latest turn, read from the actions it ran (a model without TriagePolicy).

    Args:
        events: The conversation's tracker events.
        recorded: The `triage` slot the turn set, if any (action_handoff records the ticket, its
            reasons and the promised time there even without TriagePolicy).

    Returns:
        A `triage`-like dict (`decision`, `topic`, `reasons`, `language`, `ticket`, `reply_eta`),
        or None when there is no customer message.
    """
    from bot.triage import IntentRules

    turn = _turn(events)
    if turn is None:
        return None
    message, actions = turn
    taken = [a for a in actions if a not in NEUTRAL_ACTIONS]
    value: dict[str, Any] = dict(recorded or {})
    value.setdefault("language", None)
    intent = message.intent_name
    if any(a in HANDOFF_ACTIONS for a in taken):
        value["decision"] = "handoff"
        if not value.get("reasons"):
            value["reasons"] = [IntentRules().handoff.get(intent or "", "complex")]
    elif any(a.startswith("utter_") for a in taken):
        value["decision"] = "answer"
        value["topic"] = _answer_topic(message, next(a for a in taken if a.startswith("utter_")))
    else:
        # Only listening: the rules' ignores (spam, abuse, acknowledge) say why.
        value["decision"] = "ignore"
        reason = IntentRules().ignore.get(intent or "")
        value["reasons"] = [reason] if reason else []
    return value
