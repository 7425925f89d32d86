"""Time to apply a signed 2,000-card playbook bundle, and searches on the old version meanwhile.

    python benchmarks/bundle_apply.py [--cards 2000] [--model fake|builtin|none] [--budget 60]
                                      [--mode child|thread|both]

The cards are the bundled playbook's cards copied with new ids. Version 1 (the bundled playbook) is
applied first and opened for search; then a thread keeps searching it while the big version is
applied, and the searches' count and latency percentiles during the apply are reported. ``child``
applies in a child process, as the app does (``python -m sync pull``); ``thread`` applies in a thread
of the searching process, which shows why the app does not: the Qdrant engine's index optimisation
holds the GIL for seconds.

``--model fake`` (default) is a deterministic 512-dimension stand-in with the same interface as a
model: publishing needs no minutes of real embedding, and the desktop takes the bundle's vectors as
it would with a real model that matches (the normal case). ``builtin`` uses the multilingual USE
encoder for publish and apply (slow to publish: every chunk is embedded); ``none``: lemmas only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.cards import card_files
from knowledge.embeddings import Embedder
from knowledge.search import Searcher
from knowledge.settings import RESOURCES, load_settings
from knowledge.taxonomy import default_taxonomy


class HashEmbedder:
    """Hashed character trigrams, unit length: fast, deterministic, shaped like a model."""

    def __init__(self, dim: int = 512) -> None:
        self.model_id = f"bench-hash-{dim}"
        self.dim = dim

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            low = text.lower()
            for i in range(max(len(low) - 2, 1)):
                out[row, hash(low[i : i + 3]) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (out / norms).astype(np.float32)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))] if ordered else 0.0


def big_playbook(target: Path, cards: int, version: int) -> None:
    """The bundled playbook plus copies of its cards with new ids until there are ``cards`` cards."""
    shutil.copytree(RESOURCES / "kb", target)
    manifest = target / "playbook.yaml"
    manifest.write_text(re.sub(r"(?m)^version: .*$", f"version: {version}", manifest.read_text("utf-8")),
                        encoding="utf-8")
    sources = card_files(RESOURCES / "kb")
    extra = cards - len(sources)
    for n in range(extra):
        src = sources[n % len(sources)]
        text = src.read_text(encoding="utf-8")
        text = re.sub(r"(?m)^id:\s*(\S+)", lambda m, n=n: f"id: {m.group(1)}-copy{n}", text, count=1)
        text = re.sub(r'(?m)^title:\s*"?(.*?)"?\s*$', lambda m, n=n: f'title: "{m.group(1)} (копия {n})"',
                      text, count=1)
        out = target / "copies" / f"c{n // 500}" / f"{src.stem}-copy{n}.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")


def child_apply(bundle: str, model: str) -> None:
    """The apply as the app runs it: in a child process (``python -m sync`` with the real model)."""
    from sync.apply import apply_file

    result = apply_file(load_settings(), Path(bundle), embedder=make_embedder(model))
    print(json.dumps({"seconds": result.seconds, "vectors": result.vectors}, ensure_ascii=False))


def make_embedder(model: str) -> Embedder | None:
    from knowledge.embeddings import UseEmbedder

    return HashEmbedder() if model == "fake" else UseEmbedder() if model == "builtin" else None


class SearchLoad:
    """A thread searching the old version over and over, recording latencies."""

    def __init__(self, searcher: Searcher, queries: list[str]) -> None:
        self.searcher, self.queries = searcher, queries
        self.latencies: list[float] = []
        self.answered_at: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> SearchLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        rng = random.Random(7)
        while not self._stop.is_set():
            t = time.perf_counter()
            try:
                if not self.searcher.search(rng.choice(self.queries), 5):
                    self.failures.append("empty")
            except Exception as exc:  # a benchmark reports failures instead of dying
                self.failures.append(repr(exc))
            self.latencies.append((time.perf_counter() - t) * 1000)
            self.answered_at.append(time.perf_counter())
            time.sleep(0.005)  # a live call asks a few times a second; this is far more often

    def report(self) -> str:
        lat, at = self.latencies, self.answered_at
        gap = max((b - a for a, b in itertools.pairwise(at)), default=0.0) * 1000
        return (f"{len(lat)} searches answered, {len(self.failures)} failed; p50 {statistics.median(lat):.1f} ms, "
                f"p95 {pct(lat, 0.95):.1f} ms, max {max(lat):.1f} ms; longest wait between answers {gap:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--model", default="fake", choices=["fake", "builtin", "none"])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--mode", default="both", choices=["child", "thread", "both"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_apply(args.child, args.model)
        return
    work = Path(tempfile.mkdtemp(prefix="sufler-bench-"))
    os.environ["SUFLER_HOME"] = str(work / "home")

    from knowledge.search import Searcher
    from sync.apply import apply_file
    from sync.install import open_version
    from sync.keys import generate, load_private
    from sync.publish import publish
    from sync.state import active_bundle

    settings = load_settings()
    embedder = make_embedder(args.model)
    settings.embedding.model = "none" if embedder is None else settings.embedding.model
    keys = generate(work / "keys", "bench")
    settings.distribution.trusted_keys = [keys.line]
    os.environ["SUFLER_DISTRIBUTION__TRUSTED_KEYS"] = json.dumps([keys.line])
    private = load_private(work / "keys", "bench")
    channel = work / "channel"
    small = work / "kb1"
    big_playbook(small, 0, 1)
    publish(settings, small, str(channel), private, embedder=embedder)
    apply_file(settings, channel / "bundles" / "1.tar", embedder=embedder)
    queries = [e for c in default_taxonomy().categories.values() for e in c.examples]
    modes = ["child", "thread"] if args.mode == "both" else [args.mode]
    failed = False
    for version, mode in enumerate(modes, start=2):
        big = work / f"kb{version}"
        big_playbook(big, args.cards, version)
        started = time.perf_counter()
        published = publish(settings, big, str(channel), private, embedder=embedder)
        print(f"bundle v{version}: {published.cards} cards, {published.chunks} chunks, "
              f"{published.pointer.size / 1e6:.1f} MB, model {published.model_id or 'none'}; "
              f"publish {time.perf_counter() - started:.1f} s (admin side, not in the budget)")
        old = active_bundle(settings)
        assert old is not None
        index = open_version(settings, old.folder)
        searcher = Searcher(index, embedder)
        idle = []
        for q in queries[:60]:
            t = time.perf_counter()
            searcher.search(q, 5)
            idle.append((time.perf_counter() - t) * 1000)
        bundle = channel / "bundles" / f"{version}.tar"
        with SearchLoad(searcher, queries) as load:
            started = time.perf_counter()
            if mode == "child":
                proc = subprocess.run([sys.executable, __file__, "--child", str(bundle), "--model", args.model],
                                      capture_output=True, text=True, check=True)
                inner = json.loads(proc.stdout.strip().splitlines()[-1])
            else:
                result = apply_file(settings, bundle, embedder=embedder)
                inner = {"seconds": result.seconds, "vectors": result.vectors}
            wall = time.perf_counter() - started
        index.close()
        over = wall > args.budget
        failed |= over or bool(load.failures)
        print(f"apply v{version} in a {'child process' if mode == 'child' else 'thread'}: {wall:.1f} s wall, "
              f"{inner['seconds']:.1f} s inside apply ({'OVER' if over else 'within'} the {args.budget:.0f} s "
              f"budget; {inner['vectors']})")
        print(f"  during the apply, on the old version: {load.report()} (idle p95 {pct(idle, 0.95):.1f} ms)")
        fresh = active_bundle(settings)
        assert fresh is not None and fresh.version == version
    shutil.rmtree(work, ignore_errors=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
