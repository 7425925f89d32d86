"""One bundle apply in a fresh process, for the kill -9 test: import and warm up first, say READY,
then apply (the test kills it with SIGKILL at a random moment after READY).

    SUFLER_HOME=... python tests/support/apply_worker.py BUNDLE.tar
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from knowledge.settings import load_settings
from knowledge.sparse import document_terms
from sync.apply import apply_file


def main() -> None:
    settings = load_settings()
    document_terms("прогрев словаря перед замером")  # pymorphy3 loads its dictionaries once
    print("READY", flush=True)
    started = time.perf_counter()
    result = apply_file(settings, Path(sys.argv[1]), embedder=None)
    print(f"DONE {result.version} {time.perf_counter() - started:.3f}", flush=True)


if __name__ == "__main__":
    main()
