"""`afterhours bench incident`: the generated night, and its fast form through replay (slow)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from afterhours.bench.incident_channels import _resolved
from afterhours.bench.incident_night import AREA, START, night

HELDOUT = Path(__file__).resolve().parents[1] / "heldout"


def test_the_night_is_fixed_and_shaped_as_asked() -> None:
    lines = night()
    assert lines == night()  # the same night every run (fixed seed)
    outage = [x for x in lines if x["kind"] == "outage"]
    routine = [x for x in lines if x["kind"] == "routine"]
    assert len(outage) == 300 and len(routine) == 200
    customers = {(x["channel"], x["sender"]) for x in lines}
    assert len(customers) == 500  # every message from a different customer
    times = [datetime.fromisoformat(str(x["at"])) for x in outage]
    assert min(times) >= START and max(times) <= START + timedelta(minutes=30)
    assert [str(x["at"]) for x in lines] == sorted(str(x["at"]) for x in lines)
    assert {x["channel"] for x in lines} == {"sms", "x", "telegram"}
    naming = sum(1 for x in outage if AREA.lower() in str(x["text"]).lower())
    assert 50 <= naming <= 150  # some name the town
    assert len({x["text"] for x in outage}) > 100  # varied wording


def test_never_from_the_held_out_sets() -> None:
    held = " ".join(p.read_text(encoding="utf-8") for p in HELDOUT.glob("*.jsonl")).lower()
    for line in night():
        text = str(line["text"]).removeprefix("@AuroraCare ").lower()
        assert f'"{text}"' not in held


def test_the_resolution_is_recognised_as_received() -> None:
    assert _resolved("@b12_3 Good news: the service outage is fixed.")
    assert _resolved("Boas noticias: a falha de servico esta resolvida.")  # GSM-7 transliterated
    assert not _resolved("Thanks for letting us know.")


@pytest.mark.slow
def test_a_small_night_through_replay(trained_model: Path) -> None:
    from afterhours.bench.incident import replay_night

    figures = replay_night(night(reports=24, routine=16, minutes=10, seed=3), trained_model)
    assert figures.incidents == 1
    assert figures.routine_incident_replies == 0
    # Reports made before the incident opened are linked to it afterwards (they hear the fix);
    # with this seed one routine question ("¿hay fibra en Almada?") was misread by the NLU as an
    # outage report before it opened, and is linked so. Never more than that.
    assert figures.routine_linked <= 1
    assert figures.linked_customers >= 22  # of 24
    assert figures.parent_cases == 1
    linked = figures.linked_customers + figures.routine_linked
    assert figures.notices == linked and figures.notices_per_customer_max == 1
