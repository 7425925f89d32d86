"""The CRM card filled from a call (the wrap-up issue): every field of the contract, with evidence.

``build_card`` is called by the offline analysis and at the end of a live session. Until the field
extractors land, only ``compliance`` and ``objections`` are filled; every other field stays null.
"""

from __future__ import annotations

from typing import Any

from assist.transcript import Transcript

CARD_FIELDS = ("contact_name", "company", "phone", "email", "city", "budget_rub", "next_contact_date",
               "pipeline", "lead_source", "urgency", "decision_maker", "outcome", "refusal_reason",
               "objections", "summary", "compliance", "talk_ratio_manager")


def build_card(transcript: Transcript, objections: list[str], compliance: float) -> dict[str, Any]:
    """The contract's ``card`` object. ``objections``: hint categories raised in the call, in order."""
    card: dict[str, Any] = dict.fromkeys(CARD_FIELDS)
    card["compliance"] = compliance
    return card
