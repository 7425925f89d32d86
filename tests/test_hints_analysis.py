from __future__ import annotations

import json
from pathlib import Path

import pytest

from assist.analysis import CallAnalyzer
from assist.hints import EPISODE_SECONDS, Candidate, Hint, HintPolicy
from assist.transcript import read_transcript
from knowledge.engine import KnowledgeBase
from knowledge.settings import Settings
from tests.cards_factory import complete_playbook


def _hint(policy: HintPolicy, category: str, at: float) -> Hint:
    return policy.add(Hint(0, category, f"card-{category}", "t", "s", None, 0.6, 0, "words", at, at, 10.0))


def test_one_hint_per_episode_and_cooldown() -> None:
    policy = HintPolicy()
    assert policy.admit(Candidate("price_too_high", 0.6, 3, "дорого", 10.0))
    assert not policy.admit(Candidate("price_too_high", 0.9, 4, "ну правда дорого", 20.0))  # same episode
    assert not policy.admit(Candidate("no_time", 0.6, 5, "некогда", 11.0))  # cooldown
    assert policy.admit(Candidate("no_time", 0.8, 5, "некогда", 11.5))  # strong enough to break through
    # the no_time hint closed the price episode: coming back to the price raises it anew
    assert policy.admit(Candidate("price_too_high", 0.9, 6, "и всё-таки дорого", 30.0))
    # the episode is extended while the client keeps at it, then a new one may start
    assert not policy.admit(Candidate("price_too_high", 0.6, 7, "дорого", 30.0 + EPISODE_SECONDS - 1))
    assert not policy.admit(Candidate("price_too_high", 0.6, 8, "дорого", 30.0 + 2 * EPISODE_SECONDS - 2))
    assert policy.admit(Candidate("price_too_high", 0.6, 9, "дорого", 30.0 + 4 * EPISODE_SECONDS))


def test_visible_pinned_and_feedback() -> None:
    policy = HintPolicy()
    first = _hint(policy, "a", 1)
    for n, cat in enumerate(["b", "c", "d"], start=2):
        _hint(policy, cat, n)
    assert [h.category for h in policy.visible()] == ["b", "c", "d"]
    policy.feedback(first.id, "pin", 5.0)
    assert [h.category for h in policy.visible()] == ["a", "c", "d"]
    policy.feedback(first.id, "helped", 6.0)
    policy.feedback(first.id, "dismiss", 7.0)
    assert first.feedback == [("pin", 5.0), ("helped", 6.0), ("dismiss", 7.0)] and not first.pinned
    with pytest.raises(ValueError):
        policy.feedback(first.id, "love", 8.0)


def test_analysis_result_follows_the_contract(lemma_settings: Settings, tmp_path: Path) -> None:
    kb = KnowledgeBase(lemma_settings, complete_playbook(tmp_path / "kb"))
    call = tmp_path / "call.jsonl"
    call.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"call_id": "c-7", "started_at": "2026-11-20T10:00:00+03:00", "direction": "outbound"},
        {"speaker": "manager", "start": 0.5, "end": 2.0, "text": "добрый день"},
        {"speaker": "client", "start": 2.5, "end": 4.0, "text": "да слушаю"},
        {"speaker": "client", "start": 4.5, "end": 6.0, "text": "у меня пять минут"},
        {"speaker": "manager", "start": 6.5, "end": 8.0, "text": "встретимся во вторник"},
    ]), encoding="utf-8")
    result = CallAnalyzer(kb).analyze(read_transcript(call))
    assert result["call_id"] == "c-7"
    [hint] = result["hints"]
    assert hint["utterance"] == 2 and hint["category"] == "no_time"
    assert hint["at"] >= 6.0 and hint["latency_ms"] > 0 and hint["card_id"] == "objection-no-time"
    assert result["checklist"] == {"greeting": True, "next_step": True}
    assert set(result["card"]) >= {"contact_name", "phone", "objections", "compliance"}
    kb.close()


def test_a_pause_settles_partial_text_without_waiting_for_agreement(lemma_settings: Settings, tmp_path: Path) -> None:
    """One partial is not enough to raise a hint (the phrase may go on), unless the speaker paused after it."""
    from assist.events import Event, HintShown
    from assist.session_core import CallCore, HintEngine

    kb = KnowledgeBase(lemma_settings, complete_playbook(tmp_path / "kb"))
    events: list[Event] = []
    core = CallCore(HintEngine(kb), events.append)
    first = core.partial("client", "у меня пять минут", 3.0, start=2.0)
    assert not [e for e in events if isinstance(e, HintShown)]
    assert core.partial("client", "у меня пять минут", 3.2, start=2.0, settled=True) == first
    [hint] = [e for e in events if isinstance(e, HintShown)]
    assert hint.category == "no_time" and hint.utterance == first
    core.final("client", "у меня пять минут", 2.0, 3.5)  # the final of the same episode raises nothing new
    assert len([e for e in events if isinstance(e, HintShown)]) == 1
    kb.close()
