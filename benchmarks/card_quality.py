"""Card field accuracy of the wrap-up extractors alone, on labelled calls (no detector, no index).

    python benchmarks/card_quality.py [FOLDER ...] [--show]

With no folder it scores the dev calls (``../shared/eval/dev``) and our own held-out set
(``benchmarks/heldout_calls``, written without looking at the dev calls), each on its own line: the
rules were tuned on the dev calls, so the held-out number is the one to trust.

Objections are taken from the labelled hints (what a perfect detector would raise), so the numbers
measure the extraction only; ``score.py calls`` measures the whole product. ``--show`` prints every
wrong field with the label and the value found. Where a label file says ``"interest_dropped"``
(true/false, the held-out set does), the card's ``interest_drop`` is checked against it too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from assist.transcript import read_transcript  # noqa: E402
from assist.wrapup import build_card  # noqa: E402

FIELDS = ["contact_name", "company", "phone", "email", "city", "budget_rub", "next_contact_date", "pipeline",
          "lead_source", "urgency", "decision_maker", "outcome", "refusal_reason"]
DEFAULT_FOLDERS = [HERE.parent.parent / "shared" / "eval" / "dev", HERE / "heldout_calls"]


def norm(value: object) -> object:
    if isinstance(value, str):
        return " ".join(value.replace("ё", "е").replace("Ё", "Е").lower().split())
    return value


def score_folder(folder: Path, show: bool) -> dict[str, Any]:
    right: dict[str, int] = dict.fromkeys([*FIELDS, "talk_ratio_manager", "objections"], 0)
    calls = 0
    drop_right = drop_total = 0
    for labels_path in sorted(folder.glob("*.labels.json")):
        labels = json.loads(labels_path.read_text(encoding="utf-8"))
        transcript = read_transcript(labels_path.with_name(labels_path.name.replace(".labels.json", ".jsonl")))
        hints = [h["category"] for h in sorted(labels["hints"], key=lambda h: h["utterance"])]
        card = build_card(transcript, hints, float(labels["card"].get("compliance") or 0))
        calls += 1
        for key in FIELDS:
            ok = norm(card.get(key)) == norm(labels["card"].get(key))
            right[key] += ok
            if not ok and show:
                print(f"{labels['call_id']} {key}: want {labels['card'].get(key)!r} got {card.get(key)!r}")
        tr, want = card.get("talk_ratio_manager"), labels["card"].get("talk_ratio_manager")
        right["talk_ratio_manager"] += int(tr is not None and want is not None and abs(tr - want) <= 0.05)
        right["objections"] += int(sorted(card["objections"]) == sorted(labels["card"]["objections"]))
        if "interest_dropped" in labels:
            drop_total += 1
            got = card.get("interest_drop") is not None
            drop_right += int(got == bool(labels["interest_dropped"]))
            if got != bool(labels["interest_dropped"]) and show:
                print(f"{labels['call_id']} interest_drop: want {'a drop' if labels['interest_dropped'] else None} "
                      f"got {card.get('interest_drop')!r}")
    total = sum(right[k] for k in [*FIELDS, "talk_ratio_manager"])
    return {"calls": calls, "accuracy": total / (calls * (len(FIELDS) + 1)) if calls else 0.0,
            "fields": {k: v / calls for k, v in right.items()} if calls else {},
            "interest_drop": (drop_right, drop_total)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", type=Path, nargs="*")
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()
    for folder in args.folders or DEFAULT_FOLDERS:
        report = score_folder(folder, args.show)
        print(f"{folder}: calls: {report['calls']}")
        print(f"  card_field_accuracy (13 exact fields + talk ratio): {report['accuracy']:.3f}")
        print("  fields: " + ", ".join(f"{k}={v:.2f}" for k, v in report["fields"].items()))
        drop_right, drop_total = report["interest_drop"]
        if drop_total:
            print(f"  interest_drop right (drop vs none): {drop_right}/{drop_total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
