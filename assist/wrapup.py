"""The CRM card filled from a call (the wrap-up issue): every field of the contract, with evidence.

``build_card`` is called by the offline analysis and at the end of a live session. Each field comes
from one extractor of ``assist.extract``; beside the contract's fields the card carries
``evidence`` (per field: the utterance index and words it came from, and a confidence),
``longest_monologue`` and ``interest_drop``. A field the call does not reveal stays null.
Logs name fields, never their values (phones and e-mails are personal data).
"""

from __future__ import annotations

import logging
from typing import Any

from assist.extract import budget as budget_mod
from assist.extract import classify, names, talk
from assist.extract.dates import next_contact
from assist.extract.emails import client_email
from assist.extract.evidence import Found
from assist.extract.phones import client_phone
from assist.extract.summary import summarize
from assist.transcript import Transcript
from knowledge.taxonomy import default_taxonomy

log = logging.getLogger(__name__)

CARD_FIELDS = ("contact_name", "company", "phone", "email", "city", "budget_rub", "next_contact_date",
               "pipeline", "lead_source", "urgency", "decision_maker", "outcome", "refusal_reason",
               "objections", "summary", "compliance", "talk_ratio_manager")


def card_objections(categories: list[str]) -> list[str]:
    """The hint categories that are objections in the taxonomy (buying signals and price questions are
    not), without repeats, in the order they were raised."""
    taxonomy = default_taxonomy()
    return [c for c in dict.fromkeys(categories)
            if taxonomy.categories.get(c) is not None and taxonomy.categories[c].kind == "objection"]


def build_card(transcript: Transcript, objections: list[str], compliance: float) -> dict[str, Any]:
    """The contract's ``card`` object. ``objections``: hint categories raised in the call, in order."""
    utterances = transcript.utterances
    base = transcript.started_at.date() if transcript.started_at else None
    card: dict[str, Any] = dict.fromkeys(CARD_FIELDS)
    found: dict[str, Found | None] = {}

    side = names.manager_side(utterances)
    found["contact_name"] = names.contact_name(utterances, side)
    found["company"] = names.company(utterances, side)
    found["city"] = names.city(utterances)
    found["phone"] = client_phone(utterances)
    found["email"] = client_email(utterances)
    found["next_contact_date"] = next_contact(utterances, base) if base else None
    found["lead_source"] = classify.lead_source(utterances, transcript.direction)
    result = classify.outcome(utterances, found["next_contact_date"], base)
    found["outcome"] = result
    card_objs = card_objections(objections)
    found["refusal_reason"] = classify.refusal_reason(utterances, card_objs, result)
    found["decision_maker"] = classify.decision_maker(utterances, result)
    found["urgency"] = classify.urgency(utterances, base, result)
    found["pipeline"] = classify.pipeline(utterances, found["lead_source"], result)
    found["budget_rub"] = budget_mod.budget(
        utterances, result.utterance if result is not None and result.value == "won" else None)

    evidence: dict[str, Any] = {}
    for field, value in found.items():
        if value is not None:
            card[field] = value.value
            evidence[field] = value.evidence()
    card["objections"] = card_objs
    card["compliance"] = compliance
    card["talk_ratio_manager"] = talk.talk_ratio_manager(utterances)
    card["summary"] = summarize(card)
    card["evidence"] = evidence
    card["longest_monologue"] = talk.longest_monologue(utterances)
    card["interest_drop"] = talk.interest_drop(utterances, card["outcome"])
    log.debug("card %s: filled %s; empty %s", transcript.call_id, sorted(evidence),
              sorted(f for f in found if found[f] is None))
    return card
