"""The Qdrant-server path: the same KnowledgeBase code over real HTTP through qdrant-client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.engine import KnowledgeBase
from knowledge.settings import Settings
from knowledge.store import SearchFilter, StoreUnavailableError
from tests.cards_factory import complete_playbook
from tests.support.qdrant_rest import QdrantRestServer

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect")


@pytest.fixture
def server() -> Iterator[QdrantRestServer]:
    with QdrantRestServer() as srv:
        yield srv


def test_same_results_from_the_embedded_engine_and_the_server(lemma_settings: Settings, tmp_path: Path,
                                                              server: QdrantRestServer) -> None:
    root = complete_playbook(tmp_path / "kb")
    local = KnowledgeBase(lemma_settings, root).searcher()
    remote_settings = lemma_settings.model_copy(deep=True)
    remote_settings.index.qdrant_url = server.url
    remote_kb = KnowledgeBase(remote_settings, root)
    remote = remote_kb.searcher()
    assert remote.index.meta.engine == "server"
    assert ("POST", "/collections/playbook/points/query") not in server.requests
    for query, flt in [("это не я решаю", SearchFilter()), ("дорого", SearchFilter(kind="objection")),
                       ("склад вентиляция", SearchFilter(industry="hvac")),
                       ("встретимся во вторник", SearchFilter(pipeline="project"))]:
        a = [(r.card_id, round(r.score, 3)) for r in local.search(query, 3, flt)]
        b = [(r.card_id, round(r.score, 3)) for r in remote.search(query, 3, flt)]
        assert a == b and a
    assert ("POST", "/collections/playbook/points/query") in server.requests  # through the alias
    remote_kb.close()


def test_rebuild_on_the_server_switches_the_alias(lemma_settings: Settings, tmp_path: Path,
                                                   server: QdrantRestServer) -> None:
    lemma_settings.index.qdrant_url = server.url
    kb = KnowledgeBase(lemma_settings, complete_playbook(tmp_path / "kb"))
    first = kb.build().location
    second = kb.build().location
    aliases = {a.alias_name: a.collection_name for a in server.engine.get_aliases().aliases}
    assert aliases == {"playbook": second}
    names = {c.name for c in server.engine.get_collections().collections}
    assert names == {first, second}  # the previous one is kept for rollback
    third = kb.build().location
    assert {c.name for c in server.engine.get_collections().collections} == {second, third}


def test_server_errors_are_reported_plainly(lemma_settings: Settings, tmp_path: Path,
                                            server: QdrantRestServer) -> None:
    lemma_settings.index.qdrant_url = server.url
    kb = KnowledgeBase(lemma_settings, complete_playbook(tmp_path / "kb"))
    searcher = kb.searcher()
    server.fail_next = 500
    with pytest.raises(StoreUnavailableError, match="Qdrant"):
        searcher.search("дорого", 3)
    assert searcher.search("дорого", 3)  # the next request works again


def test_unreachable_server(lemma_settings: Settings, tmp_path: Path) -> None:
    lemma_settings.index.qdrant_url = "http://127.0.0.1:9"  # discard port: nothing listens
    kb = KnowledgeBase(lemma_settings, complete_playbook(tmp_path / "kb"))
    with pytest.raises(StoreUnavailableError):
        kb.build()
