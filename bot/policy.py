"""`TriagePolicy`: the Rasa policy that takes the answer / handoff / ignore decision.

It reads what the NLU found (intent, FAQ topic and confidences, language, personal data, emotion,
addressing), what the channel said (public or private, the time) and what the bot last decided in
the conversation (after an answer, a short "great, that's all" closes it), asks the brand's
calendar whether the desk is open, and calls :func:`bot.triage.decide`. The decision is always
recorded in the `triage` and `language` slots. Where the rules in `data/rules/` already lead to
the right action for the intent, the policy leaves the prediction to RulePolicy; it predicts
itself only when it overrides them (an emotional FAQ question, personal data, in hours, not
addressed, a closer read from the conversation, ...).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction, SupportedData
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.io import dump_obj_as_json_to_file, read_json_file

from bot import turns
from bot.csat import CSAT_ACTION, CSAT_SLOT, open_question, rating_of
from bot.settings import load_brand
from bot.triage import ANSWER, HANDOFF, IntentRules, Signals, Thresholds, Triage, decide
from handoff.clock import parse_iso
from handoff.incidents import KINDS as INCIDENT_TOPICS

logger = logging.getLogger(__name__)

HANDOFF_ACTION = "action_handoff"
APPEND_ACTION = "action_append_to_ticket"
OWN_ACTIONS = (HANDOFF_ACTION, APPEND_ACTION)
#: Runs instead of the FAQ answer for an outage report (actions/incident.py).
INCIDENT_ACTION = "action_incident"
RULE_ACTIONS_FILE = "rule_actions.json"


def message_time(message: UserUttered) -> datetime:
    """When the customer sent the message: the channel's `at`, else when Rasa received it."""
    raw = (message.metadata or {}).get("at")
    if isinstance(raw, str):
        try:
            return parse_iso(raw, name="message time")
        except ValueError as error:
            logger.warning("Ignoring the channel's time: %s (%r)", error, raw)
    return datetime.fromtimestamp(message.timestamp or 0, tz=timezone.utc)


def signals_from(
    message: UserUttered, previous: dict[str, Any] | None, language_slot: str | None
) -> dict[str, Any]:
    """Reads the NLU signals of one message into keyword arguments for :class:`Signals`."""
    parse = message.parse_data or {}
    intent = parse.get("intent") or {}
    selector = (parse.get("response_selector") or {}).get("faq") or {}
    response = selector.get("response") or {}
    ranking = selector.get("ranking") or []
    language = parse.get("language") or {}
    emotion = parse.get("emotion") or {}
    addressing = parse.get("addressing") or {}
    metadata = message.metadata or {}

    code = language.get("code")
    if not language.get("reliable", True) and language_slot:
        code = language_slot  # a short "ok" keeps the conversation's language
    answered: list[str] = []
    after_answer = bool(previous and previous.get("decision") == ANSWER)
    if previous and after_answer and previous.get("topic"):
        answered.append(previous["topic"])
    # Confidence per intent family; FallbackClassifier's own entry says nothing about which.
    families = {
        str(entry["name"]): float(entry.get("confidence") or 0.0)
        for entry in parse.get("intent_ranking") or []
        if isinstance(entry, dict) and entry.get("name") and entry["name"] != "nlu_fallback"
    }
    name = intent.get("name")
    confidence = float(intent.get("confidence") or 0.0)
    topic = response.get("intent_response_key")
    topic_confidence = float(response.get("confidence") or 0.0)
    runner_up = float(ranking[1]["confidence"]) if len(ranking) > 1 else 0.0
    given = name if name and "/" in name else intent.get("full_retrieval_intent_name")
    if given and not topic:
        # A full retrieval intent given directly (a "/faq/roaming" payload, a test story).
        topic, topic_confidence, runner_up = given, confidence, 0.0
        name = given.split("/", 1)[0]
    return {
        "text": message.text or "",
        "intent": name,
        "intent_confidence": confidence,
        "faq_topic": topic,
        "faq_confidence": topic_confidence,
        "faq_runner_up": runner_up,
        "language": code or language_slot or "en",
        "personal_data": parse.get("personal_data") or [],
        "emotion": emotion.get("label"),
        "unresolved": any(str(cue).startswith("unresolved:") for cue in emotion.get("cues") or []),
        "addressed": bool(addressing.get("addressed", True)),
        "public": bool(metadata.get("public", False)),
        "answered_topics": answered,
        "after_answer": after_answer,
        "intent_ranking": families,
    }


def _report(decision: str, reason: str | None) -> None:
    """Tells the connector watching this message's turn what was decided (see bot/turns.py).

    The connector counts the decision once the turn is stored (bot/metrics.py): a turn tried
    again after a failure is counted once.
    """
    turn = turns.current()
    if turn is not None:
        turn.decision, turn.reason = decision, reason


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class TriagePolicy(Policy):
    """Decides answer / handoff / ignore for each customer message (see module docstring)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Default thresholds; priority above RulePolicy so that its overrides win."""
        return {
            "priority": 7,
            "intent_threshold": 0.45,
            "faq_threshold": 0.5,
            "faq_ambiguity": 0.1,
            "max_answerable_length": 600,
            "brand": None,
        }

    @staticmethod
    def supported_data() -> SupportedData:
        """Reads the rules to know what they already do for each intent."""
        return SupportedData.ML_AND_RULE_DATA

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        featurizer: Any = None,
        rule_actions: dict[str, str] | None = None,
    ) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)
        self.rule_actions: dict[str, str] = rule_actions or {}
        self.thresholds = Thresholds(
            intent=float(config["intent_threshold"]),
            faq=float(config["faq_threshold"]),
            faq_ambiguity=float(config["faq_ambiguity"]),
            max_answerable_length=int(config["max_answerable_length"]),
        )
        self.intent_rules = IntentRules()

    def train(
        self,
        training_trackers: list[TrackerWithCachedStates],
        domain: Domain,
        **kwargs: Any,
    ) -> Resource:
        """Learns from the rules which action follows each intent at the start of a turn."""
        self.rule_actions = {}
        for tracker in training_trackers:
            if not tracker.is_rule_tracker:
                continue
            intent: str | None = None
            for event in tracker.events:
                if isinstance(event, UserUttered):
                    intent = event.intent_name
                elif isinstance(event, ActionExecuted) and intent and event.action_name:
                    self.rule_actions.setdefault(intent, event.action_name)
                    intent = None
        self.persist()
        return self._resource

    def persist(self) -> None:
        """Stores what the rules do per intent."""
        with self._model_storage.write_to(self._resource) as path:
            dump_obj_as_json_to_file(Path(path) / RULE_ACTIONS_FILE, self.rule_actions)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TriagePolicy:
        """Loads the policy and what the rules do per intent."""
        with model_storage.read_from(resource) as path:
            rule_actions = read_json_file(Path(path) / RULE_ACTIONS_FILE)
        return cls(config, model_storage, resource, execution_context, rule_actions=rule_actions)

    def _action_for(self, triage: Triage, intent: str | None) -> str:
        if triage.decision == HANDOFF:
            return HANDOFF_ACTION
        if triage.decision == ANSWER:
            if intent == self.intent_rules.retrieval_intent:
                return f"utter_{intent}"
            return f"utter_{triage.topic}"
        return ACTION_LISTEN_NAME

    def _outage_report(self, triage: Triage, intent: str | None) -> bool:
        """Whether action_incident sees the message first.

        An outage FAQ the bot would answer, or one handed off only because the NLU could not
        tell which outage topic it is (linked then only if an incident is open).
        """
        if triage.decision == ANSWER:
            return triage.topic in INCIDENT_TOPICS
        return (
            triage.decision == HANDOFF
            and triage.reasons == ("complex",)
            and intent == self.intent_rules.retrieval_intent
            and triage.about in INCIDENT_TOPICS
        )

    def _after_incident(self, domain: Domain, triage_slot: Any) -> PolicyPrediction:
        """After action_incident: listen when it linked the report, else answer or hand off."""
        value = triage_slot if isinstance(triage_slot, dict) else {}
        if value.get("incident"):
            return self._predict(domain, ACTION_LISTEN_NAME, [])
        if value.get("decision") == HANDOFF:
            return self._predict(domain, HANDOFF_ACTION, [])
        if value.get("decision") == ANSWER:
            retrieval = f"utter_{self.intent_rules.retrieval_intent}"
            return self._predict(domain, retrieval, [])
        return self._predict(domain, ACTION_LISTEN_NAME, [])

    def _predict(self, domain: Domain, action: str, events: list[Any]) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities, events=events)

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        """Decides after a customer message; listens after its own actions."""
        abstain = self._prediction(self._default_predictions(domain))
        if tracker.latest_action_name in OWN_ACTIONS:
            return self._predict(domain, ACTION_LISTEN_NAME, [])
        triage_slot = tracker.get_slot("triage")
        if tracker.latest_action_name == INCIDENT_ACTION:
            return self._after_incident(domain, triage_slot)
        if (
            (tracker.latest_action_name or "").startswith("utter_")
            and isinstance(triage_slot, dict)
            and triage_slot.get("decision") == ANSWER
        ):
            # One answer per message. The rules know this only for the intent they answer; a
            # closer read from the conversation ("ok, that's all, night" after an answer gets
            # utter_goodbye) is answered by this policy, so it also says that the turn is over.
            return self._predict(domain, ACTION_LISTEN_NAME, [])
        message = tracker.latest_message
        if tracker.latest_action_name != ACTION_LISTEN_NAME or message is None:
            return abstain
        if not message.text and not message.intent_name:
            return abstain  # a session start, not a customer message

        if rating_of(message.text) is not None and open_question(
            tracker.get_slot(CSAT_SLOT), message_time(message)
        ):
            # The answer to the satisfaction question asked after a resolved case (bot/csat.py).
            _report("csat", None)
            value = {"decision": "csat", "language": tracker.get_slot("language")}
            return self._predict(domain, CSAT_ACTION, [SlotSet("triage", value)])

        language_slot = tracker.get_slot("language")
        if tracker.get_slot("handoff_ticket"):
            # Handed off: the bot stays quiet and the message joins the open ticket.
            language = (message.parse_data or {}).get("language") or {}
            value = {
                "decision": HANDOFF,
                "followup": True,
                "language": language.get("code") or language_slot,
            }
            _report(HANDOFF, "followup")
            return self._predict(domain, APPEND_ACTION, [SlotSet("triage", value)])

        brand = load_brand(self.config.get("brand"))
        at = message_time(message)
        previous = tracker.get_slot("triage")
        signals = Signals(
            **signals_from(
                message, previous if isinstance(previous, dict) else None, language_slot
            ),
            in_hours=brand.calendar().is_open(at),
            answer_in_hours=brand.answer_in_hours,
        )
        if signals.language not in brand.languages:
            signals = replace(signals, language=brand.default_language)
        triage = decide(signals, self.intent_rules, self.thresholds)
        _report(triage.decision, triage.reason)
        locale_hint = ((message.parse_data or {}).get("language") or {}).get("locale_hint")
        events = [
            SlotSet("language", triage.language),
            SlotSet(
                "triage",
                triage.as_slot(
                    intent=signals.intent,
                    emotion=signals.emotion,
                    at=at.isoformat(),
                    in_hours=signals.in_hours,
                    locale=brand.locale_for(triage.language, locale_hint),
                ),
            ),
        ]
        action = self._action_for(triage, signals.intent)
        if (
            brand.incidents.enabled
            and INCIDENT_ACTION in domain.action_names_or_texts
            and self._outage_report(triage, signals.intent)
        ):
            # An outage report: linked to an open incident, or counted towards one; the FAQ
            # answer (or the handoff) follows when there is none (_after_incident).
            return self._predict(domain, INCIDENT_ACTION, events)
        if self.rule_actions.get(signals.intent or "nlu_fallback") == action:
            return self._prediction(self._default_predictions(domain), events=events)
        if action not in domain.action_names_or_texts:
            logger.error("TriagePolicy wants %s, which the domain lacks; handing off", action)
            action = HANDOFF_ACTION
        return self._predict(domain, action, events)
