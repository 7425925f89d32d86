"""The embedded index: builds, atomic switch, staleness, and a damaged index folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.engine import KnowledgeBase
from knowledge.index import edge_root, open_edge_index
from knowledge.playbook import PlaybookError
from knowledge.settings import Settings
from knowledge.store import IndexCorruptedError, IndexMissingError
from tests.cards_factory import complete_playbook, write_card
from tests.conftest import ROOT


def test_missing_index_is_reported_then_built(lemma_settings: Settings, tmp_path: Path) -> None:
    kb = KnowledgeBase(lemma_settings, complete_playbook(tmp_path / "kb"))
    with pytest.raises(IndexMissingError):
        kb.searcher(auto_build=False)
    searcher = kb.searcher()
    assert any("не построен" in n.text for n in kb.notices)
    assert searcher.index.meta.cards == 20 and searcher.index.meta.engine == "edge"
    assert searcher.search("у меня пять минут", 1)[0].handles == ["no_time"]
    kb.close()


def test_rebuild_switches_atomically_and_keeps_the_previous_build(lemma_settings: Settings,
                                                                   tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    kb = KnowledgeBase(lemma_settings, root)
    first = kb.build().location
    second = kb.build().location
    third = kb.build().location
    builds = sorted(p.name for p in edge_root(lemma_settings).iterdir() if p.is_dir())
    assert builds == sorted([second, third])  # the current one and one to roll back to
    pointer = json.loads((edge_root(lemma_settings) / "current.json").read_text())
    assert pointer == {"build": third, "previous": second}
    assert first not in builds


def test_changed_playbook_triggers_a_rebuild(lemma_settings: Settings, tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    kb = KnowledgeBase(lemma_settings, root)
    kb.searcher()
    kb.close()
    write_card(root, "facts/warranty.md", id="fact-warranty", kind="fact", title="Гарантия три года",
               body="Гарантия на оборудование три года, сервисный инженер выезжает за сутки.")
    kb2 = KnowledgeBase(lemma_settings, root)
    searcher = kb2.searcher()
    assert any("плейбук изменился" in n.text for n in kb2.notices)
    assert searcher.search("какая гарантия на оборудование", 1)[0].card_id == "fact-warranty"
    kb2.close()


def test_playbook_with_errors_is_not_indexed(lemma_settings: Settings, tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    write_card(root, "bad.md", id="objection-bad", kind="objection", title="Плохая", handles=["nope"],
               triggers=["x"], say="y")
    with pytest.raises(PlaybookError, match="nope"):
        KnowledgeBase(lemma_settings, root).build()


def _corrupt(settings: Settings) -> Path:
    root = edge_root(settings)
    build = json.loads((root / "current.json").read_text())["build"]
    shard = root / build / "shard"
    damaged = 0
    for path in shard.rglob("*"):
        if path.is_file() and path.stat().st_size > 0:
            path.write_bytes(b"\x00garbage\xff" * 16)
            damaged += 1
    assert damaged
    return shard


def test_corrupted_index_folder_gives_a_clear_error_and_rebuild_works(lemma_settings: Settings,
                                                                      tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    kb = KnowledgeBase(lemma_settings, root)
    kb.build()
    shard = _corrupt(lemma_settings)
    with pytest.raises(IndexCorruptedError) as info:
        open_edge_index(lemma_settings)
    assert str(shard.parent) in str(info.value)
    kb2 = KnowledgeBase(lemma_settings, root)
    searcher = kb2.searcher()  # repairs by itself
    assert any("повреждён" in n.text for n in kb2.notices)
    assert searcher.search("это дорого", 1)[0].handles == ["price_too_high"]
    kb2.close()


def test_garbage_pointer_file_is_corruption_not_a_crash(lemma_settings: Settings, tmp_path: Path) -> None:
    kb = KnowledgeBase(lemma_settings, complete_playbook(tmp_path / "kb"))
    kb.build()
    (edge_root(lemma_settings) / "current.json").write_text("{not json")
    with pytest.raises(IndexCorruptedError, match=r"current\.json"):
        open_edge_index(lemma_settings)
    assert kb.searcher().index.meta.cards == 20


def test_cli_search_repairs_a_corrupted_index(lemma_settings: Settings, tmp_path: Path,
                                              sufler_home: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    env = {"SUFLER_HOME": str(sufler_home), "SUFLER_EMBEDDING__MODEL": "none",
           "SUFLER_PLAYBOOK__PATH": str(root), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "desktop.cli", "kb", "search", "у меня пять минут", "--json", "--limit", "2"]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    assert first.returncode == 0, first.stderr
    _corrupt(lemma_settings)
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    assert second.returncode == 0 and "Traceback" not in second.stderr
    assert "повреждён" in second.stderr
    assert json.loads(second.stdout)[0]["handles"] == ["no_time"]
