"""A small text classifier for spoken Russian turns, trained on the playbook's own example phrases.

Nearest-phrase similarity alone cannot tell "я подумаю" from "я подумал и решил", or "решаю не я"
from "решаю я": the sentence models see the same topic. A linear model over two kinds of features
learns which words matter from the examples themselves:

- words: lemmas (pronouns and negation kept, «не_X»), the tense of verbs («подумать#past»), and
  lemma bigrams («решать_я»), TF-IDF weighted;
- meaning: the sentence embedding, when a model is loaded.

Training uses scikit-learn's logistic regression (well kept, a second on a few thousand phrases);
prediction is plain numpy over the saved weights, so the fitted model is cached as an ``.npz`` file
(no pickle) keyed by a hash of everything it was trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge.embeddings import Embedder
from knowledge.russian import lemma, lemmas, tokenize, verb_tense

FORMAT = 1
FIT_TIMEOUT_S = 1800
log = logging.getLogger(__name__)
QUIET = "_none"  # a label for examples that must raise nothing
# "_none:X": quiet for X only (a look-alike of X); with one_vs_rest, the other classes do not see it
_MEMO: dict[str, TextClassifier] = {}  # fitted models of this process, by training-data key

Matrix = npt.NDArray[np.float32]


def features(text: str) -> list[str]:
    """Word features of one turn: lemmas, verb tenses, lemma bigrams."""
    toks = lemmas(text, keep_stop_words=True)
    out = list(toks)
    for word in tokenize(text):
        tense = verb_tense(word)
        if tense:
            out.append(f"{lemma(word)}#{tense}")
    out += [f"{a}_{b}" for a, b in pairwise(toks)]
    return out


class TextClassifier:
    def __init__(self, classes: list[str], vocabulary: dict[str, int], idf: Matrix, coef: Matrix,
                 intercept: Matrix, sparse_weight: float, embedder: Embedder | None, one_vs_rest: bool = False) -> None:
        self.classes = classes
        self.vocabulary = vocabulary
        self.idf = idf
        self.coef = coef  # (classes, vocabulary + embedding dim)
        self.intercept = intercept
        self.sparse_weight = sparse_weight
        self.embedder = embedder
        self.one_vs_rest = one_vs_rest  # independent yes/no per class (a turn may do several steps)

    # -- features ---------------------------------------------------------------------------
    def _sparse(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        for i, text in enumerate(texts):
            counts = Counter(f for f in features(text) if f in self.vocabulary)
            for feat, n in counts.items():
                j = self.vocabulary[feat]
                out[i, j] = (1 + math.log(n)) * self.idf[j]
            norm = float(np.linalg.norm(out[i]))
            if norm:
                out[i] /= norm
        return out * self.sparse_weight

    def _matrix(self, texts: Sequence[str]) -> Matrix:
        sparse = self._sparse(texts)
        if self.embedder is None:
            return sparse
        return np.hstack([sparse, self.embedder.encode(list(texts))]).astype(np.float32)

    def predict_proba(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return self.proba_of(self._matrix(texts))

    def matrix(self, texts: Sequence[str]) -> Matrix:
        """The features of ``texts`` (another model fitted on the same texts reads the same matrix)."""
        return self._matrix(texts)

    def same_words(self, other: TextClassifier) -> bool:
        """Whether ``other`` builds the same word features (fitted on the same texts); compare once,
        the vocabularies are large."""
        return self.vocabulary == other.vocabulary and self.sparse_weight == other.sparse_weight and \
            np.array_equal(self.idf, other.idf)

    def proba_of(self, matrix: Matrix) -> Matrix:
        """Class probabilities from a feature matrix of ``matrix()``."""
        logits = matrix @ self.coef.T + self.intercept
        if self.one_vs_rest or self.coef.shape[0] == 1:
            sig: Matrix = (1 / (1 + np.exp(-logits))).astype(np.float32)
            if self.coef.shape[0] == 1:  # two classes: sklearn keeps one row, for the second class
                return np.hstack([1 - sig, sig]).astype(np.float32)
            return sig
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        out: Matrix = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return out

    def with_embedder(self, embedder: Embedder | None) -> TextClassifier:
        """The same fitted model encoding with ``embedder`` (another instance of the same model)."""
        if embedder is self.embedder:
            return self
        return TextClassifier(self.classes, self.vocabulary, self.idf, self.coef, self.intercept,
                              self.sparse_weight, embedder, self.one_vs_rest)

    # -- training and cache -----------------------------------------------------------------
    @classmethod
    def train(cls, texts: list[str], labels: list[str], embedder: Embedder | None, *, c: float = 8.0,
              sparse_weight: float = 4.0, one_vs_rest: bool = False, balanced: bool = False,
              cache_dir: Path | None = None) -> TextClassifier:
        """``balanced``: weigh classes inversely to their size (for few examples per class against many
        quiet ones, where recall matters more than a calibrated probability)."""
        key = _key(texts, labels, embedder, c, sparse_weight, one_vs_rest, balanced)
        if key in _MEMO:
            return _MEMO[key].with_embedder(embedder)
        path = cache_dir / f"{key}.npz" if cache_dir else None
        if path and path.exists():
            loaded = cls.load(path, embedder)
            if loaded is not None:
                _MEMO[key] = loaded
                return loaded
        dense = embedder.encode(texts) if embedder else None
        fitted = _fit_in_child(texts, labels, dense, c, sparse_weight, one_vs_rest, balanced, cache_dir)
        if fitted is None:  # no child process here (or it failed): fit in this one
            fitted = fit(texts, labels, dense, c=c, sparse_weight=sparse_weight, one_vs_rest=one_vs_rest,
                         balanced=balanced)
        fitted = fitted.with_embedder(embedder)
        if path:
            fitted.save(path)
        _MEMO[key] = fitted
        return fitted

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # processes sharing the cache do not collide
        np.savez_compressed(tmp, coef=self.coef, intercept=self.intercept, idf=self.idf,
                            meta=np.array(json.dumps({"format": FORMAT, "classes": self.classes,
                                                      "vocabulary": self.vocabulary,
                                                      "sparse_weight": self.sparse_weight,
                                                      "one_vs_rest": self.one_vs_rest})))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, embedder: Embedder | None) -> TextClassifier | None:
        """The cached model, or None when the file is damaged or from another format (then retrain)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != FORMAT:
                    return None
                return cls(meta["classes"], meta["vocabulary"], data["idf"], data["coef"], data["intercept"],
                           float(meta["sparse_weight"]), embedder, bool(meta.get("one_vs_rest")))
        except (OSError, ValueError, KeyError):
            return None


def fit(texts: list[str], labels: list[str], dense: Matrix | None, *, c: float, sparse_weight: float,
        one_vs_rest: bool, balanced: bool) -> TextClassifier:
    """Fit TF-IDF and logistic regression (scikit-learn); ``dense``: the texts' sentence vectors, if any."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer=features, sublinear_tf=True)
    sparse = vectorizer.fit_transform(texts) * sparse_weight
    matrix = hstack([sparse, csr_matrix(dense)]).tocsr() if dense is not None else sparse
    base = LogisticRegression(C=c, max_iter=3000, class_weight="balanced" if balanced else None)
    if one_vs_rest:
        classes, coef, intercept = _one_vs_rest(matrix, labels, base)
    else:
        model = base.fit(matrix, labels)
        classes, coef, intercept = [str(x) for x in model.classes_], model.coef_, model.intercept_
    vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
    return TextClassifier(classes, vocabulary, vectorizer.idf_.astype(np.float32), coef.astype(np.float32),
                          intercept.astype(np.float32), sparse_weight, None, one_vs_rest)


def _fit_in_child(texts: list[str], labels: list[str], dense: Matrix | None, c: float, sparse_weight: float,
                  one_vs_rest: bool, balanced: bool, cache_dir: Path | None) -> TextClassifier | None:
    """Fit in a child process (``assist.fit_worker``): scikit-learn and the fitting's peak memory (several
    hundred MB) stay out of the app, which keeps only the small fitted model. None when that fails."""
    if cache_dir is None or os.environ.get("SUFLER_FIT_IN_PROCESS"):
        return None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix="fit-") as tmp:
            job, out = Path(tmp) / "job.npz", Path(tmp) / "model.npz"
            np.savez(job, dense=dense if dense is not None else np.zeros((0, 0), dtype=np.float32),
                     meta=np.array(json.dumps({"texts": texts, "labels": labels, "c": c,
                                               "sparse_weight": sparse_weight, "one_vs_rest": one_vs_rest,
                                               "balanced": balanced, "dense": dense is not None})))
            proc = subprocess.run([sys.executable, "-m", "assist.fit_worker", str(job), str(out)],
                                  capture_output=True, text=True, timeout=FIT_TIMEOUT_S, check=False)
            if proc.returncode != 0:
                log.warning("fitting in a child process failed (%s), fitting here: %s", proc.returncode,
                            proc.stderr.strip()[-300:])
                return None
            return TextClassifier.load(out, None)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("fitting in a child process failed, fitting here: %s", exc)
        return None


def _one_vs_rest(matrix: Any, labels: list[str], base: Any) -> tuple[list[str], Matrix, Matrix]:
    """One yes/no model per class; a look-alike of X (``_none:X``) is a "no" for X alone."""
    from sklearn.base import clone

    classes = sorted({lab for lab in labels if not lab.startswith(QUIET)})
    label_array = np.array(labels)
    coefs, intercepts = [], []
    for cls in classes:
        rows = np.flatnonzero(~np.char.startswith(label_array, QUIET + ":") | (label_array == f"{QUIET}:{cls}"))
        model = clone(base).fit(matrix[rows], label_array[rows] == cls)
        coefs.append(model.coef_[0])
        intercepts.append(model.intercept_[0])
    return classes, np.vstack(coefs).astype(np.float32), np.array(intercepts, dtype=np.float32)


def _key(texts: list[str], labels: list[str], embedder: Embedder | None, c: float, sparse_weight: float,
         one_vs_rest: bool, balanced: bool) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT, embedder.model_id if embedder else None, c, sparse_weight,
                              one_vs_rest, balanced]).encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:20]
