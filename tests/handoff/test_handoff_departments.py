from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from handoff.departments import department_for

MAPPING = {
    "billing": ["faq/bill_due_date", "account_request"],
    "technical": ["faq/internet_down"],
}


@pytest.mark.parametrize(
    ("intent", "department"),
    [
        ("account_request", "billing"),
        ("faq/bill_due_date", "billing"),
        ("faq/internet_down", "technical"),
        ("complaint", "general"),
        ("faq/bill", "general"),  # no prefix or substring matches
        (None, "general"),
        ("", "general"),
    ],
)
def test_department_for(intent: str | None, department: str) -> None:
    assert department_for(intent, MAPPING) == department


def test_first_department_wins_and_bare_strings_do_not_match_substrings() -> None:
    mapping = {"sales": "faq/plans_prices", "billing": ["faq/plans_prices"]}
    assert department_for("faq/plans_prices", mapping) == "sales"
    assert department_for("faq/plans", mapping) == "general"


def test_brand_departments() -> None:
    brand = yaml.safe_load((Path(__file__).parents[2] / "brand.yml").read_text(encoding="utf-8"))
    departments = brand["departments"]
    assert department_for("account_request", departments) == "billing"
    assert department_for("faq/roaming", departments) == "technical"
    assert department_for("faq/cancel_contract", departments) == "sales"
    assert department_for("request_human", departments) == "general"
