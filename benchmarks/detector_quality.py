"""Detector quality on labelled calls, in-process, for a range of thresholds (no hint policy yet).

    python benchmarks/detector_quality.py [DIR] [--thresholds 0.4 0.5 0.6] [--model none|use] [-v]

Counts like ../shared/eval/score.py: a labelled hint is found when the same category is raised by
that client utterance or the next one. Use it to measure, not to tune to these exact calls.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assist.detector import CategoryDetector, Detection
from assist.transcript import read_transcript
from knowledge.embeddings import UseEmbedder
from knowledge.playbook import load_playbook
from knowledge.settings import RESOURCES

DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEV)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8])
    parser.add_argument("--model", choices=["none", "use"], default="use")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    embedder = UseEmbedder() if args.model == "use" else None
    detector = CategoryDetector(load_playbook(RESOURCES / "kb").cards, embedder, threshold=0.01,
                                cache_dir=Path(tempfile.mkdtemp()))
    calls = []
    for labels_path in sorted(args.folder.glob("*.labels.json")):
        labels = json.loads(labels_path.read_text(encoding="utf-8"))
        transcript = read_transcript(labels_path.with_name(labels_path.name.replace(".labels.json", ".jsonl")))
        found: dict[int, Detection | None] = {u.index: detector.detect(u.text) for u in transcript.utterances
                                              if u.speaker == "client"}
        calls.append((labels, transcript, found))
    for threshold in args.thresholds:
        hits = labelled = right = raised = quiet = 0
        for labels, transcript, found in calls:
            want = [(h["utterance"], h["category"]) for h in labels["hints"]]
            got = [(i, d.category) for i, d in found.items() if d and d.confidence >= threshold]
            hits += sum(any(c == gc and gu in (u, u + 1) for gu, gc in got) for u, c in want)
            good = [(gu, gc) for gu, gc in got if any(gc == c and gu in (u, u + 1) for u, c in want)]
            right += len(good)
            raised += len(got)
            labelled += len(want)
            quiet += 0 if want else len(got)
            if args.verbose and threshold == args.thresholds[-1]:
                texts = {u.index: u.text for u in transcript.utterances}
                for gu, gc in got:
                    if (gu, gc) not in good:
                        print(f"  false alarm {labels['call_id']}#{gu} {gc}: {texts[gu][:90]}")
                for u, c in want:
                    if not any(c == gc and gu in (u, u + 1) for gu, gc in got):
                        print(f"  missed {labels['call_id']}#{u} {c}: {texts[u][:90]}")
        print(f"threshold={threshold} recall={hits / max(labelled, 1):.3f} "
              f"precision={right / max(raised, 1):.3f} false_alarms_on_quiet_calls={quiet}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
