"""One object that gives the rest of the product a ready playbook search.

It reads the settings, loads the embedding model named there (or explains why it could not),
opens the index and rebuilds it when the playbook or the model changed, or when the index is
damaged. The CLI, the desktop app and the live detector all go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from knowledge.embeddings import Embedder, SearchMode, load_embedder
from knowledge.index import (
    IndexMeta,
    PlaybookIndex,
    Progress,
    build_edge_index,
    no_progress,
    open_edge_index,
    reset_edge_index,
)
from knowledge.playbook import Playbook, load_playbook, playbook_hash
from knowledge.search import Searcher
from knowledge.settings import Settings
from knowledge.store import IndexCorruptedError, IndexMissingError


@dataclass
class Notice:
    """Something the user should know about (shown on stderr by the CLI, in the status bar by the app)."""

    text: str


class KnowledgeBase:
    def __init__(self, settings: Settings, playbook_dir: Path | None = None,
                 embedder: Embedder | None = None, mode: SearchMode | None = None) -> None:
        self.settings = settings
        # A playbook version applied from the distribution channel wins over the local folder,
        # unless a folder is named explicitly (sync builds on knowledge: imported lazily).
        from sync.state import ActiveBundle, active_bundle

        self.bundle: ActiveBundle | None = None if playbook_dir is not None else active_bundle(settings)
        default = self.bundle.cards if self.bundle else settings.playbook_dir()
        self.playbook_dir = (playbook_dir or default).resolve()
        self._embedder = embedder
        self._mode = mode
        self._index: PlaybookIndex | None = None
        self._searcher: Searcher | None = None
        self.notices: list[Notice] = []

    @property
    def server(self) -> bool:
        return bool(self.settings.index.qdrant_url)

    def embedder(self) -> tuple[Embedder | None, SearchMode]:
        if self._mode is None:
            self._embedder, self._mode = load_embedder(self.settings)
        return self._embedder, self._mode

    def playbook(self) -> Playbook:
        return load_playbook(self.playbook_dir)

    def build(self, progress: Progress = no_progress) -> IndexMeta:
        embedder, _ = self.embedder()
        self.close()
        if self.bundle is not None:  # the applied version is rebuilt from its cached, verified bundle
            from sync.recovery import rebuild_active
            from sync.state import active_bundle

            meta = rebuild_active(self.settings, embedder, progress)
            self.bundle = active_bundle(self.settings)
            return meta
        playbook = self.playbook()
        if self.server:
            from knowledge.index_server import build_server_index  # qdrant-client loads slowly

            return build_server_index(playbook, embedder, self.settings, progress)
        return build_edge_index(playbook, embedder, self.settings, progress)

    def open(self) -> PlaybookIndex:
        if self.bundle is not None:
            from sync.install import open_version

            return open_version(self.settings, self.bundle.folder)
        if self.server:
            from knowledge.index_server import open_server_index

            return open_server_index(self.settings)
        return open_edge_index(self.settings)

    def searcher(self, progress: Progress = no_progress, *, auto_build: bool = True) -> Searcher:
        """A searcher over a fresh index; builds or rebuilds it when needed (and says why)."""
        if self._searcher is not None:
            return self._searcher
        embedder, _mode = self.embedder()
        index: PlaybookIndex | None = None
        try:
            index = self.open()
        except IndexMissingError:
            if not auto_build:
                raise
            self.notices.append(Notice("индекс плейбука ещё не построен: строю"))
        except IndexCorruptedError as exc:
            if not auto_build:
                raise
            self.notices.append(Notice(f"индекс повреждён ({exc}); строю заново"))
            if not self.server and self.bundle is None:
                reset_edge_index(self.settings)
        if index is not None and auto_build:
            reason = self.stale_reason(index.meta, embedder)
            if reason:
                self.notices.append(Notice(f"{reason}: перестраиваю индекс"))
                index.close()
                index = None
        if index is None:
            self.build(progress)
            index = self.open()
        self._index = index
        self._searcher = Searcher(index, embedder)
        return self._searcher

    def stale_reason(self, meta: IndexMeta, embedder: Embedder | None) -> str:
        if Path(meta.playbook_root) != self.playbook_dir:
            return f"индекс построен для другой папки ({meta.playbook_root})"
        if meta.model_id != (embedder.model_id if embedder else ""):
            return "сменилась смысловая модель"
        if meta.playbook_hash != playbook_hash(self.playbook_dir):
            return "плейбук изменился"
        return ""

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
        self._index = None
        self._searcher = None
