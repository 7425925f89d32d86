"""Offline analysis of one call transcript: the analysis result of the contract.

Runs the same parts as the live path, in order: the detector on client turns, the hint policy,
the card choice through playbook search (the answer card, then the closest case study), and the
checklist tracker on manager turns. The CRM card is the wrap-up's part (its fields stay null here).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from assist.checklist import ChecklistTracker
from assist.detector import CategoryDetector, Detection
from assist.hints import Candidate, Hint, HintPolicy
from assist.transcript import Transcript
from assist.wrapup import build_card
from knowledge.engine import KnowledgeBase
from knowledge.search import Searcher
from knowledge.store import SearchFilter
from knowledge.taxonomy import default_taxonomy


@dataclass
class CardChoice:
    card_id: str
    title: str
    say: str
    case_id: str | None


def choose_cards(searcher: Searcher, detection: Detection, industry: str | None = None,
                 pipeline: str | None = None) -> CardChoice:
    """The answer card for the category (the best match to the client's words), then a case study."""
    answers = searcher.search(detection.evidence, 1, SearchFilter(handles=detection.category, pipeline=pipeline),
                              framed=False)
    answer = answers[0] if answers else None
    card_id = answer.card_id if answer and answer.kind in ("objection", "signal") else detection.card_id
    cases = searcher.search(detection.evidence, 1, SearchFilter(kind="case", handles=detection.category,
                                                                industry=industry), framed=False)
    return CardChoice(card_id, answer.title if answer else "", answer.snippet if answer else "",
                      cases[0].card_id if cases else None)


class CallAnalyzer:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.searcher = kb.searcher()
        cards = kb.playbook().cards
        taxonomy = default_taxonomy()
        self.detector = CategoryDetector(cards, self.searcher.embedder)
        self.cards = cards
        self.taxonomy = taxonomy

    def analyze(self, transcript: Transcript) -> dict[str, Any]:
        policy = HintPolicy()
        tracker = ChecklistTracker(self.cards, self.taxonomy, self.searcher.embedder)
        for utterance in transcript.utterances:
            if utterance.speaker == "manager":
                tracker.hear(utterance.index, utterance.end, utterance.text)
                continue
            started = time.perf_counter()
            detection = self.detector.detect(utterance.text)
            if detection is None:
                continue
            candidate = Candidate(detection.category, detection.confidence, utterance.index,
                                  utterance.text, utterance.end)
            if not policy.admit(candidate):
                continue
            choice = choose_cards(self.searcher, detection)
            latency = (time.perf_counter() - started) * 1000
            policy.add(Hint(0, detection.category, choice.card_id, choice.title, choice.say, choice.case_id,
                            detection.confidence, utterance.index, utterance.text, utterance.start,
                            utterance.end + latency / 1000, latency))
        objections = list(dict.fromkeys(h.category for h in policy.hints))
        card = build_card(transcript, objections, tracker.compliance())
        return {
            "call_id": transcript.call_id,
            "hints": [h.to_json() for h in policy.hints],
            "checklist": tracker.state(),
            "card": card,
            "problems": transcript.problems,
        }
