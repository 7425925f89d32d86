from __future__ import annotations

from pathlib import Path

import pytest

from assist.checklist import ChecklistTracker
from assist.classifier import TextClassifier
from assist.detector import CategoryDetector
from assist.transcript import TranscriptError, read_transcript
from knowledge.playbook import load_playbook
from knowledge.settings import RESOURCES
from knowledge.taxonomy import default_taxonomy
from tests.cards_factory import complete_playbook, write_card

HEADER = '{"call_id": "t-1", "started_at": "2026-11-20T10:00:00+03:00", "direction": "outbound"}'


def test_transcript_keeps_good_lines_and_names_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "call.jsonl"
    path.write_text("\n".join([
        HEADER,
        '{"speaker": "manager", "start": 0.4, "end": 3.1, "text": "добрый день"}',
        '{"speaker": "client", "start": 3.5, "end": 5.0, "text": "да слушаю"',  # broken JSON
        '{"speaker": "robot", "start": 5.5, "end": 6.0, "text": "?"}',
        '{"speaker": "client", "start": 6.5, "end": 8.0, "text": "это дорого"}',
    ]), encoding="utf-8")
    transcript = read_transcript(path)
    assert transcript.call_id == "t-1" and transcript.started_at is not None
    assert [(u.index, u.speaker) for u in transcript.utterances] == [(0, "manager"), (3, "client")]
    assert transcript.problems[0].startswith(f"{path}:3:") and f"{path}:4:" in transcript.problems[1]


@pytest.mark.parametrize("content, expected", [("", ":1: пустой"), ("{oops", ":1: заголовок"),
                                               ('{"x": 1}', "call_id")])
def test_unusable_transcript(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TranscriptError, match=expected):
        read_transcript(path)


def test_detector_finds_trigger_paraphrases_and_respects_excludes(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    write_card(root, "answers/need_to_think.md", id="objection-need-to-think", kind="objection",
               title="Надо подумать", handles=["need_to_think"], triggers=["я подумаю", "нам надо всё взвесить"],
               exclude=["я подумал и решил взять"], say="Что именно хотите обдумать?")
    detector = CategoryDetector(load_playbook(root).cards, embedder=None, threshold=0.4)
    hit = detector.detect("ну хорошо я подумаю над этим")
    assert hit is not None and hit.category == "need_to_think" and "подумаю" in hit.evidence
    assert detector.detect("я подумал и решил взять") is None
    assert detector.detect("да слушаю вас") is None
    long_turn = "решение за мной я директор а вот с деньгами беда денег сейчас нет"
    found = detector.detect(long_turn)
    assert found is not None and found.category == "no_budget"


def test_bundled_detector_tells_harmless_look_alikes_from_objections() -> None:
    """The issue's own examples with the bundled playbook, in lemma mode (no model)."""
    cards = load_playbook(RESOURCES / "kb").cards
    detector = CategoryDetector(cards, embedder=None)
    assert detector.detect("я подумал и решил взять") is None
    assert detector.detect("дорогой коллега рад вас слышать") is None
    thinking = detector.detect("ну не знаю мне надо подумать я посоветуюсь с женой")
    assert thinking is not None and thinking.category == "need_to_think"
    price = detector.detect("слушайте ну это очень дорого для нас")
    assert price is not None and price.category == "price_too_high" and price.card_id


def test_checklist_ticks_steps_with_the_words_that_did_them() -> None:
    cards = load_playbook(RESOURCES / "kb").cards
    tracker = ChecklistTracker(cards, default_taxonomy(), embedder=None)
    ticks = tracker.hear(0, 3.0, "добрый день меня зовут ольга компания вектор")
    assert {t.step for t in ticks} >= {"greeting"}
    assert all(t.evidence for t in ticks)
    tracker.hear(5, 40.0, "подскажите какой бюджет вы закладываете на проект")
    assert tracker.state()["budget_question"] is True
    assert tracker.state().get("lead_source_question") is False
    assert 0 < tracker.compliance() < 1
    # The lead source question does not apply when the manager placed the call.
    done = sum(tracker.state().values())
    assert tracker.compliance("inbound") == round(done / len(tracker.steps), 3)
    assert tracker.compliance("outbound") == round(done / (len(tracker.steps) - 1), 3)


def test_cached_classifier_is_reused_and_damage_means_retraining(tmp_path: Path) -> None:
    texts = ["очень дорого", "дороговато для нас", "да слушаю", "добрый день"] * 3
    labels = ["price", "price", "_none", "_none"] * 3
    first = TextClassifier.train(texts, labels, None, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    loaded = TextClassifier.load(files[0], None)
    assert loaded is not None and loaded.classes == first.classes
    assert loaded.predict_proba(["это дорого"])[0].argmax() == loaded.classes.index("price")
    files[0].write_bytes(b"not a model")
    assert TextClassifier.load(files[0], None) is None
