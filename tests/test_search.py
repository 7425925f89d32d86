"""Search on the bundled playbook: lemma-only and hybrid, filters, spoken-style queries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.embeddings import SentenceTransformerEmbedder, load_embedder
from knowledge.engine import KnowledgeBase
from knowledge.search import Searcher
from knowledge.settings import BUILTIN_USE, Settings, load_settings
from knowledge.store import SearchFilter
from tests.conftest import minilm_folder

# New-hire questions written for these tests (not the evaluation set): (query, category).
QUESTIONS = [
    ("что сказать если клиенту кажется что слишком дорого", "price_too_high"),
    ("нам выставили дешевле в соседней фирме", "competitor_cheaper"),
    ("денег в этом квартале нет совсем", "no_budget"),
    ("клиент берёт паузу чтобы всё обдумать", "need_to_think"),
    ("наберите мне ближе к весне", "call_back_later"),
    ("скиньте прайс на электронную почту", "send_materials"),
    ("у нас давно есть свой проверенный поставщик", "already_have_supplier"),
    ("решение за директором а не за мной", "not_decision_maker"),
    ("у вас есть отзывы реальных заказчиков", "need_proof"),
    ("сколько стоит ваш станок", "price_question"),
]


def _kb(settings: Settings) -> Iterator[Searcher]:
    kb = KnowledgeBase(settings)
    yield kb.searcher()
    kb.close()


@pytest.fixture(scope="module")
def lemma_searcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Searcher]:
    mp = pytest.MonkeyPatch()
    mp.setenv("SUFLER_HOME", str(tmp_path_factory.mktemp("lemma-home")))
    settings = load_settings()
    settings.embedding.model = "none"
    yield from _kb(settings)
    mp.undo()


def _hit_at_3(searcher: Searcher) -> float:
    hits = 0
    for query, category in QUESTIONS:
        results = searcher.search(query, 3)
        hits += any(category in r.handles for r in results)
    return hits / len(QUESTIONS)


def test_lemma_only_mode_finds_the_right_answers(lemma_searcher: Searcher) -> None:
    assert not lemma_searcher.hybrid
    assert _hit_at_3(lemma_searcher) >= 0.8


def test_spoken_style_and_recognition_slips(lemma_searcher: Searcher) -> None:
    typed = lemma_searcher.search("Это слишком ДОРОГО, честно говоря!", 3)
    spoken = lemma_searcher.search("это слишком дорого честно говоря", 3)
    assert [r.card_id for r in typed] == [r.card_id for r in spoken]
    slipped = lemma_searcher.search("у вас слишком дарагое оборудавание", 3)  # recognizer slips
    assert any("price_too_high" in r.handles for r in slipped)


def test_results_carry_the_contract_fields(lemma_searcher: Searcher) -> None:
    [first] = lemma_searcher.search("клиент просит прислать коммерческое предложение", 1)
    data = first.to_json()
    assert {"card_id", "title", "kind", "handles", "score", "snippet"} <= set(data)
    assert data["snippet"]


def test_filter_by_kind(lemma_searcher: Searcher) -> None:
    results = lemma_searcher.search("завод оборудование результат", 5, SearchFilter(kind="case"))
    assert results and all(r.kind == "case" for r in results)


def test_filter_by_pipeline(lemma_searcher: Searcher) -> None:
    results = lemma_searcher.search("сценарий звонка чек-лист", 5, SearchFilter(pipeline="wholesale"))
    assert results and all("wholesale" in r.pipelines for r in results)
    scripts = lemma_searcher.search("сценарий звонка", 3, SearchFilter(kind="script", pipeline="nurturing"))
    assert [r.card_id for r in scripts][:1] == ["script-nurturing"]


def test_filter_by_industry_keeps_cards_for_any_industry(lemma_searcher: Searcher) -> None:
    results = lemma_searcher.search("кейс клиента результат", 10, SearchFilter(industry="hvac"))
    assert results
    assert all(r.industries == ["any"] or "hvac" in r.industries for r in results)
    cases = lemma_searcher.search("кейс", 5, SearchFilter(kind="case", industry="furniture"))
    assert cases and all("furniture" in r.industries for r in cases)


def test_empty_and_stop_word_queries_return_nothing(lemma_searcher: Searcher) -> None:
    assert lemma_searcher.search("", 3) == []
    assert lemma_searcher.search("ну вот это", 3) == []


@pytest.mark.slow
def test_hybrid_mode_with_the_test_sentence_transformers_model(sufler_home: Path) -> None:
    settings = load_settings()
    settings.embedding.model = str(minilm_folder())
    embedder, mode = load_embedder(settings)
    assert mode.hybrid and isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.dim == 384
    kb = KnowledgeBase(settings, embedder=embedder, mode=mode)
    searcher = kb.searcher()
    assert searcher.hybrid and searcher.index.meta.dim == 384
    assert _hit_at_3(searcher) >= 0.8
    kb.close()


@pytest.mark.slow
def test_hybrid_mode_with_the_builtin_russian_encoder(sufler_home: Path) -> None:
    settings = load_settings()
    assert settings.embedding.model == BUILTIN_USE  # the embedded default
    kb = KnowledgeBase(settings)
    searcher = kb.searcher()
    assert searcher.hybrid and searcher.index.meta.model_id == BUILTIN_USE
    assert _hit_at_3(searcher) >= 0.8
    kb.close()


def test_missing_model_falls_back_to_lemmas_and_says_why(sufler_home: Path) -> None:
    settings = load_settings()
    settings.embedding.model = "intfloat/multilingual-e5-small"  # a name never downloaded here
    embedder, mode = load_embedder(settings)
    assert embedder is None and not mode.hybrid
    assert "ещё не скачана" in mode.describe()
    settings.embedding.model = str(sufler_home / "no-such-folder")
    _, mode = load_embedder(settings)
    assert not mode.hybrid and "не найдена" in mode.reason


def test_say_line_travels_whole_and_body_chunks_end_at_sentences() -> None:
    from knowledge.chunking import card_chunks
    from knowledge.playbook import load_playbook
    from knowledge.taxonomy import default_taxonomy
    from tests.conftest import BUNDLED_KB

    playbook = load_playbook(BUNDLED_KB)
    for card in playbook.cards:
        chunks = card_chunks(card, default_taxonomy())
        if card.say:
            assert any(card.say in c.text for c in chunks if c.part == "head"), card.id
        for chunk in chunks:
            if chunk.part == "body":
                assert len(chunk.sparse_text.split()) <= 160, card.id
                assert "---" not in chunk.sparse_text, card.id
