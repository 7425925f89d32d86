"""Offline analysis of one call transcript: the analysis result of the contract.

The same core as the live session (``assist.session_core.CallCore``) run over the transcript's
finals in order: the detector on client turns, the hint policy, the card choice through playbook
search (the answer card, then the closest case study), and the checklist tracker on manager turns.
The CRM card is the wrap-up's part (``assist.wrapup.build_card``).
"""

from __future__ import annotations

from typing import Any

from assist.session_core import CallCore, CardChoice, HintEngine, choose_cards
from assist.transcript import Transcript
from knowledge.engine import KnowledgeBase

__all__ = ["CallAnalyzer", "CardChoice", "choose_cards"]


class CallAnalyzer:
    def __init__(self, kb: KnowledgeBase, engine: HintEngine | None = None) -> None:
        self.kb = kb
        self.engine = engine or HintEngine(kb)
        self.searcher = self.engine.searcher
        self.detector = self.engine.detector
        self.cards = self.engine.cards
        self.taxonomy = self.engine.taxonomy

    def analyze(self, transcript: Transcript, *, industry: str | None = None,
                pipeline: str | None = None) -> dict[str, Any]:
        core = CallCore(self.engine, industry=industry, pipeline=pipeline)
        for u in transcript.utterances:
            core.final(u.speaker, u.text, u.start, u.end, index=u.index)  # type: ignore[arg-type]
        return core.result(transcript)
