"""Which checklist steps of the script the manager has covered, with the words that did it.

A one-vs-rest classifier (``assist.classifier``) learns each step from the script lines of the
playbook (``checklist:`` step → line) and a phrasebook of how managers usually say it
(``resources/detector/steps.yaml``), against lines that only touch the topic
(``manager_lookalikes.yaml``: naming the exhibition where we met is not asking the lead source),
the answer cards' "say" lines, and ordinary client talk. A manager turn ticks a step when one of
its windows is confident enough; once ticked, a step stays ticked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assist.classifier import TextClassifier
from assist.detector import DETECTOR_DATA, NONE, STEPS_PATH, neutral_phrases, yaml_phrases
from assist.extract.names import own_company_named
from assist.phrases import PhraseMatcher
from knowledge.cards import Card
from knowledge.embeddings import Embedder
from knowledge.settings import model_cache_dir
from knowledge.taxonomy import Taxonomy

THRESHOLD = 0.4
COMPANY_INTRO = "company_intro"
NOT_ON_OUTBOUND = {"lead_source_question"}  # steps that do not apply when the manager placed the call
MANAGER_LOOKALIKES_PATH = DETECTOR_DATA / "manager_lookalikes.yaml"


def step_phrasebook(path: Path = STEPS_PATH) -> dict[str, list[str]]:
    """How managers usually say each step; missing or unreadable file: no extra phrases."""
    return yaml_phrases(path)


def step_training_set(cards: list[Card], steps: list[str]) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for card in cards:
        if card.kind == "script":
            for step, line in card.checklist.items():
                if line and step in steps:
                    texts.append(line)
                    labels.append(step)
    for step, lines in step_phrasebook().items():
        if step in steps:
            texts += lines
            labels += [step] * len(lines)
    for step, lines in yaml_phrases(MANAGER_LOOKALIKES_PATH).items():
        texts += lines  # touches the step's topic without doing it (maybe doing another step)
        labels += [f"{NONE}:{step}" if step in steps else NONE] * len(lines)
    # Client talk: the base file only (the detector's extra client lines cost the checklist 0.01-0.03, measured).
    quiet = [c.say for c in cards if c.say and c.kind != "script"] + neutral_phrases(siblings=False)
    return texts + quiet, labels + [NONE] * len(quiet)


@dataclass(frozen=True)
class StepTick:
    step: str
    utterance: int
    at: float
    evidence: str
    score: float


class ChecklistTracker:
    def __init__(self, cards: list[Card], taxonomy: Taxonomy, embedder: Embedder | None,
                 pipeline: str | None = None, threshold: float | None = None,
                 cache_dir: Path | None = None) -> None:
        scripts = [c for c in cards if c.kind == "script" and c.checklist]
        active = [c for c in scripts if pipeline and pipeline in c.pipelines]
        self.steps = list(dict.fromkeys(s for c in (active or scripts) for s in c.checklist)) or \
            list(taxonomy.checklist_steps)
        texts, labels = step_training_set(cards, list(taxonomy.checklist_steps))
        self.model = TextClassifier.train(texts, labels, embedder, one_vs_rest=True, balanced=True, c=4.0,
                                          sparse_weight=1.5,
                                          cache_dir=cache_dir or model_cache_dir())
        self.threshold = THRESHOLD if threshold is None else threshold
        self.done: dict[str, StepTick] = {}
        self.turns = 0  # manager turns heard

    def hear(self, utterance: int, at: float, text: str) -> list[StepTick]:
        """Steps newly covered by this manager turn."""
        windows = PhraseMatcher.windows(text)
        if not windows:
            return []
        self.turns += 1
        probs = self.model.predict_proba(windows)
        new: list[StepTick] = []
        # A company's name is any words ("климат юг добрый день"): no phrase teaches that, the opening
        # turn's structure does (before the greeting of an inbound call, after "это <имя>", after an org word).
        if self.turns == 1 and COMPANY_INTRO in self.steps and COMPANY_INTRO not in self.done:
            named = own_company_named(text)
            if named:
                self.done[COMPANY_INTRO] = StepTick(COMPANY_INTRO, utterance, at, named, 1.0)
                new.append(self.done[COMPANY_INTRO])
        for step in self.steps:
            if step in self.done or step not in self.model.classes:
                continue
            column = probs[:, self.model.classes.index(step)]
            w = int(column.argmax())
            if column[w] >= self.threshold:
                tick = StepTick(step, utterance, at, windows[w], round(float(column[w]), 3))
                self.done[step] = tick
                new.append(tick)
        return new

    def state(self) -> dict[str, bool]:
        return {step: step in self.done for step in self.steps}

    def applicable(self, direction: str = "") -> list[str]:
        """The script's steps that apply to this call: on an outbound call the manager found the client
        himself, so "how did you hear about us" does not apply."""
        skip = NOT_ON_OUTBOUND if direction == "outbound" else set()
        return [s for s in self.steps if s not in skip or s in self.done]

    def compliance(self, direction: str = "") -> float:
        """Share of the applicable steps done (``direction``: "outbound", "inbound" or unknown)."""
        steps = self.applicable(direction)
        return round(sum(s in self.done for s in steps) / len(steps), 3) if steps else 0.0
