"""The call session over replayed transcripts: events in order, hints with evidence, checklist ticks,
the calls database, feedback, auto start/stop on silence, and ``sufler replay``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assist.call_store import CallStore, calls_db_path
from assist.events import (
    CallEnded,
    CallStarted,
    ChecklistTick,
    Event,
    HintFeedback,
    HintShown,
    PartialText,
    SourceProblem,
    UtteranceFinal,
)
from assist.session import CallSession
from assist.session_core import HintEngine
from assist.sources import SpeechEvent, TranscriptReplay
from knowledge.engine import KnowledgeBase
from knowledge.settings import SettingsError, load_settings
from tests.cards_factory import complete_playbook

ROOT = Path(__file__).resolve().parent.parent
HEADER = {"call_id": "c-7", "started_at": "2026-11-20T10:00:00+03:00", "direction": "outbound"}
LINES: list[Any] = [
    {"speaker": "manager", "start": 0.5, "end": 2.0, "text": "добрый день"},
    {"speaker": "client", "start": 2.5, "end": 4.0, "text": "да слушаю"},
    "{это не JSON",
    {"speaker": "client", "start": 4.5, "end": 6.0, "text": "у меня пять минут"},
    {"speaker": "manager", "start": 6.5, "end": 8.0, "text": "встретимся во вторник"},
]


def write_call(path: Path, lines: list[Any], header: dict[str, Any] = HEADER) -> Path:
    rows = [json.dumps(header, ensure_ascii=False)]
    rows += [x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def playbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return complete_playbook(tmp_path_factory.mktemp("kb") / "kb")


@pytest.fixture(scope="module")
def engine_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine-home")


@pytest.fixture(scope="module")
def engine(playbook: Path, engine_home: Path) -> Iterator[HintEngine]:
    """Loaded once for the module, in a profile of its own (lemma mode)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUFLER_HOME", str(engine_home))
        mp.setenv("SUFLER_EMBEDDING__MODEL", "none")
        kb = KnowledgeBase(load_settings(), playbook)
        yield HintEngine(kb)
        kb.close()


def run(engine: HintEngine, source: TranscriptReplay, store: CallStore | None = None,
        **kwargs: Any) -> tuple[CallSession, list[Event]]:
    events: list[Event] = []
    session = CallSession(engine.kb, source, store=store, listeners=[events.append], engine=engine, **kwargs)
    session.start()
    assert session.wait(60)
    return session, events


def test_replay_schedules_growing_partials_then_the_final(tmp_path: Path) -> None:
    source = TranscriptReplay(write_call(tmp_path / "c.jsonl", LINES), None)
    schedule = source.schedule()
    mine = [(at, e) for at, e in schedule if e.index == 3]
    assert [e.kind for _, e in mine] == ["partial", "partial", "partial", "final"]
    assert [e.text for _, e in mine] == ["у", "у меня", "у меня пять", "у меня пять минут"]
    times = [at for at, _ in mine]
    assert times == sorted(times) and times[0] > 4.5 and times[-1] == 6.0
    assert [at for at, _ in schedule] == sorted(at for at, _ in schedule)
    [problem] = source.problems
    assert problem.startswith(f"{tmp_path / 'c.jsonl'}:4: строка не JSON") and problem.endswith("пропущена")


def test_session_over_a_transcript(engine: HintEngine, tmp_path: Path) -> None:
    store = CallStore(tmp_path / "calls.db")
    session, events = run(engine, TranscriptReplay(write_call(tmp_path / "c.jsonl", LINES), None), store)
    assert isinstance(events[0], CallStarted) and isinstance(events[-1], CallEnded)
    assert events[-1].reason == "end_of_source" and events[0].call_id == session.call_id
    [problem] = [e for e in events if isinstance(e, SourceProblem)]
    assert "c.jsonl:4:" in problem.message
    finals = [e for e in events if isinstance(e, UtteranceFinal)]
    assert [f.index for f in finals] == [0, 1, 3, 4]  # the bad line keeps its index
    # partial text of an utterance comes before its final
    no_time = events.index(finals[2])
    assert any(isinstance(e, PartialText) and e.text == "у меня пять" for e in events[:no_time])
    [hint] = [e for e in events if isinstance(e, HintShown)]
    assert hint.category == "no_time" and hint.utterance == 3 and hint.card_id == "objection-no-time"
    assert hint.evidence and set(hint.evidence.split()) <= set("у меня пять минут".split())
    assert hint.evidence_at == 4.5 and hint.latency_ms > 0 and hint.at >= 4.5
    ticks = {e.step: e for e in events if isinstance(e, ChecklistTick)}
    assert set(ticks) == {"greeting", "next_step"} and ticks["greeting"].utterance == 0
    assert events.index(ticks["greeting"]) > events.index(finals[0])
    result = session.result()
    assert result["call_id"] == "c-7" and result["checklist"] == {"greeting": True, "next_step": True}
    assert [(h["utterance"], h["category"]) for h in result["hints"]] == [(3, "no_time")]
    assert result["problems"] == [problem.message]
    # the store has every event but the meters, in order, and the transcript back from the finals
    [row] = store.calls()
    assert (row.call_id, row.status, row.name, row.source) == (session.call_id, "ended", "c-7",
                                                              f"jsonl:{tmp_path / 'c.jsonl'}")
    stored = store.events(session.call_id)
    assert [e["type"] for e in stored] == [e.type for e in events]
    assert [e["seq"] for e in stored] == list(range(1, len(events) + 1))
    transcript = store.transcript(session.call_id)
    assert [(u.index, u.speaker, u.text) for u in transcript.utterances] == [
        (0, "manager", "добрый день"), (1, "client", "да слушаю"), (3, "client", "у меня пять минут"),
        (4, "manager", "встретимся во вторник")]
    # feedback after the call is recorded too
    session.feedback(hint.hint_id, "helped")
    with pytest.raises(KeyError):
        session.feedback(99, "pin")
    with pytest.raises(ValueError):
        session.feedback(hint.hint_id, "love")
    last = store.events(session.call_id)[-1]
    assert last["type"] == "HintFeedback" and last["hint_id"] == hint.hint_id and last["action"] == "helped"
    assert isinstance(events[-1], HintFeedback)
    store.close()


def test_live_and_offline_agree_on_finals(engine: HintEngine, tmp_path: Path) -> None:
    """The offline analysis is the same core over finals: same hints and checklist as a replay."""
    from assist.analysis import CallAnalyzer
    from assist.transcript import read_transcript

    path = write_call(tmp_path / "c.jsonl", LINES)
    offline = CallAnalyzer(engine.kb, engine).analyze(read_transcript(path))
    session, _ = run(engine, TranscriptReplay(path, None))
    live = session.result()
    assert [(h["utterance"], h["category"], h["card_id"]) for h in offline["hints"]] == \
        [(h["utterance"], h["category"], h["card_id"]) for h in live["hints"]]
    assert offline["checklist"] == live["checklist"]


def test_auto_start_waits_for_the_client_and_stops_on_silence(engine: HintEngine, tmp_path: Path) -> None:
    lines = [
        {"speaker": "manager", "start": 0.5, "end": 1.5, "text": "алло алло"},  # before the call: ignored
        {"speaker": "client", "start": 3.0, "end": 4.0, "text": "да слушаю"},
        {"speaker": "manager", "start": 5.0, "end": 6.0, "text": "добрый день"},
        {"speaker": "client", "start": 60.0, "end": 61.0, "text": "у меня пять минут"},  # after 30 s of silence
    ]
    path = write_call(tmp_path / "c.jsonl", lines)
    # speed 10: the clock ticks in real time while the replay waits, so silence is noticed without speech
    _, events = run(engine, TranscriptReplay(path, 10.0), auto=True, silence_stop_s=3.0)
    assert isinstance(events[0], CallStarted) and 3.0 < events[0].at <= 4.0  # the first client words
    finals = [e for e in events if isinstance(e, UtteranceFinal)]
    assert [f.text for f in finals] == ["да слушаю", "добрый день"]
    ended = events[-1]
    assert isinstance(ended, CallEnded) and ended.reason == "silence" and 9.0 <= ended.at < 60.0
    # as fast as possible: the silence is seen in the call's times; 30 s from speech.auto_stop_silence_seconds
    session, events = run(engine, TranscriptReplay(path, None), auto=True)
    assert session.silence_stop_s == engine.kb.settings.speech.auto_stop_silence_seconds == 30.0
    assert events[-1].reason == "silence" and events[-1].at == 36.0  # type: ignore[attr-defined]
    assert [e.text for e in events if isinstance(e, UtteranceFinal)] == ["да слушаю", "добрый день"]


def test_stop_keeps_the_words_heard_so_far(engine: HintEngine, tmp_path: Path) -> None:
    lines = [{"speaker": "client", "start": 0.2, "end": 30.0, "text": " ".join(["слово"] * 60)}]
    events: list[Event] = []

    def stop_on_partial(event: Event) -> None:
        events.append(event)
        if isinstance(event, PartialText) and len(event.text.split()) == 3:
            session.stop()

    session = CallSession(engine.kb, TranscriptReplay(write_call(tmp_path / "c.jsonl", lines), 20.0),
                          listeners=[stop_on_partial], engine=engine)
    session.start()
    assert session.wait(30)
    ended = events[-1]
    assert isinstance(ended, CallEnded) and ended.reason == "stopped"
    [final] = [e for e in events if isinstance(e, UtteranceFinal)]
    assert final.text.startswith("слово слово слово") and len(final.text.split()) < 60


def test_a_missing_transcript_ends_the_call_with_one_clear_line(engine: HintEngine, tmp_path: Path) -> None:
    from assist.sources import CallSource
    from assist.transcript import TranscriptError

    with pytest.raises(TranscriptError, match=r"c\.jsonl: файл не найден"):
        TranscriptReplay(tmp_path / "c.jsonl")

    class Broken(CallSource):
        name = "broken"

        def items(self) -> Iterator[SpeechEvent]:
            yield SpeechEvent("final", "client", "да слушаю", 0.0, 1.0, 1.0)
            raise TranscriptError(f"{tmp_path / 'x.jsonl'}:3: файл обрезан")

        def now(self) -> float:
            return 1.0

    session, events = run(engine, Broken())  # type: ignore[arg-type]
    assert isinstance(events[-1], CallEnded) and events[-1].reason == "error"
    assert any(isinstance(e, SourceProblem) and "x.jsonl:3:" in e.message for e in events)
    assert [e.text for e in events if isinstance(e, UtteranceFinal)] == ["да слушаю"]
    assert session.result()["error"].endswith("x.jsonl:3: файл обрезан")


def test_sufler_replay_prints_the_events_and_stores_the_call(engine: HintEngine, engine_home: Path, playbook: Path,
                                                             tmp_path: Path, sufler_home: Path) -> None:
    import shutil

    # the playbook's index and trained detector from the engine's profile: the command loads, not trains
    shutil.copytree(engine_home, sufler_home, dirs_exist_ok=True, ignore=shutil.ignore_patterns("calls.db*"))
    path = write_call(tmp_path / "c.jsonl", LINES)
    env = {**os.environ, "SUFLER_PLAYBOOK__PATH": str(playbook), "SUFLER_EMBEDDING__MODEL": "none"}
    cmd = [sys.executable, "-m", "desktop.cli", "replay", str(path), "--speed", "0"]
    proc = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "CallStarted" and types[-1] == "CallEnded" and "HintShown" in types
    assert any(e["type"] == "SourceProblem" and "c.jsonl:4:" in e["message"] for e in events)
    assert events[-1]["summary"]["hints"][0]["category"] == "no_time"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ПОДСКАЗКА #1 [3] no_time → objection-no-time" in proc.stdout
    assert "чек-лист: greeting ✓ [0]" in proc.stdout and "Чек-лист: 2 из 2" in proc.stdout
    assert "c.jsonl:4:" in proc.stderr
    store = CallStore(calls_db_path())
    assert calls_db_path() == sufler_home / "calls.db"
    assert [(c.name, c.status) for c in store.calls()] == [("c-7", "ended"), ("c-7", "ended")]
    store.close()
    bad = subprocess.run([sys.executable, "-m", "desktop.cli", "replay", str(tmp_path / "none.jsonl")],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert bad.returncode == 1 and f"{tmp_path / 'none.jsonl'}: файл не найден" in bad.stderr


def test_the_auto_stop_silence_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUFLER_SPEECH__AUTO_STOP_SILENCE_SECONDS", "12.5")
    assert load_settings().speech.auto_stop_silence_seconds == 12.5
    monkeypatch.setenv("SUFLER_SPEECH__AUTO_STOP_SILENCE_SECONDS", "0")
    with pytest.raises(SettingsError, match="auto_stop_silence_seconds"):
        load_settings()


def write_wav(path: Path, seconds: float = 0.5, channels: int = 2) -> Path:
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(bytes(2 * channels * round(16_000 * seconds)))
    return path


def test_a_missing_speech_model_ends_the_call_with_one_line_naming_the_folder(engine: HintEngine,
                                                                              tmp_path: Path) -> None:
    from assist.sources import WavCall

    missing = tmp_path / "no-model"
    session, events = run(engine, WavCall(write_wav(tmp_path / "call.wav"), model=missing, speed=None))  # type: ignore[arg-type]
    assert isinstance(events[0], CallStarted) and isinstance(events[-1], CallEnded)
    assert events[-1].reason == "error"
    [problem] = [e for e in events if isinstance(e, SourceProblem)]
    assert str(missing) in problem.message and "\n" not in problem.message
    assert session.result()["error"] == problem.message


def test_sufler_replay_names_a_bad_wav_or_a_missing_model_in_one_line(playbook: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SUFLER_PLAYBOOK__PATH": str(playbook), "SUFLER_EMBEDDING__MODEL": "none"}
    not_wav = tmp_path / "notes.wav"
    not_wav.write_text("это не звук", encoding="utf-8")
    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(write_wav(tmp_path / "whole.wav").read_bytes()[:30])  # the header cut short
    good = write_wav(tmp_path / "call.wav")
    cases = [([str(not_wav)], str(not_wav)), ([str(truncated)], str(truncated)),
             ([str(good), "--model", str(tmp_path / "no-model")], str(tmp_path / "no-model"))]
    for args, named in cases:
        proc = subprocess.run([sys.executable, "-m", "desktop.cli", "replay", *args, "--speed", "0", "--no-store"],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and named in lines[0] and "Traceback" not in proc.stderr, (args, proc.stderr)
