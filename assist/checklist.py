"""Which checklist steps of the script the manager has covered, with the words that did it.

The phrases are the example lines of the playbook's scripts (``checklist:`` step → line), the
step's own description from the taxonomy, and a phrasebook of how managers usually say each step
(``resources/detector/steps.yaml``); a manager turn ticks a step when one of its windows matches
that step's phrases well enough. Once ticked, a step stays ticked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from assist.phrases import Phrase, PhraseMatcher
from knowledge.cards import Card
from knowledge.embeddings import Embedder
from knowledge.settings import RESOURCES
from knowledge.taxonomy import Taxonomy

THRESHOLD_HYBRID = 0.3
THRESHOLD_LEMMAS = 0.35
STEPS_PATH = RESOURCES / "detector" / "steps.yaml"


def step_phrasebook(path: Path = STEPS_PATH) -> dict[str, list[str]]:
    """How managers usually say each step; missing or unreadable file: no extra phrases."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): [str(x) for x in v] for k, v in data.items() if isinstance(v, list)}


@dataclass(frozen=True)
class StepTick:
    step: str
    utterance: int
    at: float
    evidence: str
    score: float


class ChecklistTracker:
    def __init__(self, cards: list[Card], taxonomy: Taxonomy, embedder: Embedder | None,
                 pipeline: str | None = None, threshold: float | None = None) -> None:
        scripts = [c for c in cards if c.kind == "script" and c.checklist]
        active = [c for c in scripts if pipeline and pipeline in c.pipelines]
        self.steps = list(dict.fromkeys(s for c in (active or scripts) for s in c.checklist)) or \
            list(taxonomy.checklist_steps)
        phrases = [Phrase(line, step, card.id) for card in scripts for step, line in card.checklist.items() if line]
        phrases += [Phrase(text, step) for step, text in taxonomy.checklist_steps.items()]
        phrases += [Phrase(text, step) for step, texts in step_phrasebook().items()
                    if step in taxonomy.checklist_steps for text in texts]
        self.matcher = PhraseMatcher(phrases, embedder)
        self.threshold = threshold or (THRESHOLD_HYBRID if embedder else THRESHOLD_LEMMAS)
        self.done: dict[str, StepTick] = {}

    def hear(self, utterance: int, at: float, text: str) -> list[StepTick]:
        """Steps newly covered by this manager turn."""
        windows = self.matcher.windows(text)
        if not windows:
            return []
        scores = self.matcher.score(windows)
        new: list[StepTick] = []
        for step in self.steps:
            if step in self.done:
                continue
            best = max((self.matcher.label_score(scores[w], step, 1)[0], w) for w in range(len(windows)))
            if best[0] >= self.threshold:
                tick = StepTick(step, utterance, at, windows[best[1]], round(best[0], 3))
                self.done[step] = tick
                new.append(tick)
        return new

    def state(self) -> dict[str, bool]:
        return {step: step in self.done for step in self.steps}

    def compliance(self) -> float:
        return round(len(self.done) / len(self.steps), 3) if self.steps else 0.0
