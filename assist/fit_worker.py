"""Fits one text classifier in a child process: ``python -m assist.fit_worker JOB.npz OUT.npz``.

The parent (``assist.classifier._fit_in_child``) writes the texts, labels, options and the texts'
sentence vectors to JOB; this process fits and writes the model to OUT, then exits, so scikit-learn and
the fitting's memory never stay in the app.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from assist.classifier import fit


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m assist.fit_worker JOB.npz OUT.npz", file=sys.stderr)
        return 2
    job, out = Path(argv[0]), Path(argv[1])
    with np.load(job, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        dense = data["dense"] if meta["dense"] else None
    model = fit(meta["texts"], meta["labels"], dense, c=float(meta["c"]), sparse_weight=float(meta["sparse_weight"]),
                one_vs_rest=bool(meta["one_vs_rest"]), balanced=bool(meta["balanced"]))
    model.save(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
