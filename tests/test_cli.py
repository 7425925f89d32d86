"""The `sufler` command as a user runs it: exit codes, JSON shape, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cards_factory import complete_playbook
from tests.conftest import ROOT


def run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SUFLER_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-m", "desktop.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=full_env, timeout=300)


def test_search_json_follows_the_contract(sufler_home: Path) -> None:
    proc = run(["kb", "search", "клиент просит скинуть каталог", "--json", "--limit", "3"], sufler_home,
               SUFLER_EMBEDDING__MODEL="none")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert 1 <= len(results) <= 3
    for item in results:
        assert {"card_id", "title", "kind", "handles", "score", "snippet"} <= set(item)
        assert isinstance(item["handles"], list) and isinstance(item["score"], float)
    assert "send_materials" in results[0]["handles"]


def test_search_filters_and_human_output(sufler_home: Path) -> None:
    proc = run(["kb", "search", "кейс", "--kind", "case", "--industry", "logistics", "--limit", "2"],
               sufler_home, SUFLER_EMBEDDING__MODEL="none")
    assert proc.returncode == 0, proc.stderr
    assert "1. " in proc.stdout and "id: case-" in proc.stdout
    assert "по леммам" in proc.stderr  # the mode is said


@pytest.mark.parametrize("args, expected", [
    (["kb", "search", "дорого", "--kind", "poem"], "неизвестный тип карточки"),
    (["kb", "search", "дорого", "--pipeline", "b2c"], "неизвестная воронка"),
    (["kb", "search", "дорого", "--industry", "space"], "неизвестная отрасль"),
    (["kb", "validate", "/no/such/folder"], "не найдена"),
    (["kb", "build", "/no/such/folder"], "не найдена"),
])
def test_user_mistakes_get_one_line_errors(sufler_home: Path, args: list[str], expected: str) -> None:
    proc = run(args, sufler_home, SUFLER_EMBEDDING__MODEL="none")
    assert proc.returncode == 2
    assert expected in proc.stderr and "Traceback" not in proc.stderr


def test_broken_settings_file_is_named(sufler_home: Path) -> None:
    (sufler_home / "settings.toml").write_text("[embedding\nmodel = 1", encoding="utf-8")
    proc = run(["kb", "stats"], sufler_home)
    assert proc.returncode == 1
    assert "settings.toml" in proc.stderr and "Traceback" not in proc.stderr


def test_build_a_custom_playbook_makes_it_active(sufler_home: Path, tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    proc = run(["kb", "build", str(root)], sufler_home, SUFLER_EMBEDDING__MODEL="none")
    assert proc.returncode == 0, proc.stderr
    assert "20 карточек" in proc.stdout
    stats = run(["kb", "stats", "--json"], sufler_home, SUFLER_EMBEDDING__MODEL="none")
    data = json.loads(stats.stdout)
    assert data["playbook"] == str(root) and data["cards"] == 20 and data["mode"] == "lemmas"
    assert data["version"] == 3
    back = run(["kb", "build"], sufler_home, SUFLER_EMBEDDING__MODEL="none")
    assert back.returncode == 0
    assert json.loads(run(["kb", "stats", "--json"], sufler_home,
                           SUFLER_EMBEDDING__MODEL="none").stdout)["playbook"].endswith("resources/kb")


def test_build_refuses_a_playbook_with_errors(sufler_home: Path, tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    (root / "answers" / "no_time.md").unlink()
    proc = run(["kb", "build", str(root)], sufler_home, SUFLER_EMBEDDING__MODEL="none")
    assert proc.returncode == 1 and "no_time" in proc.stderr and "Traceback" not in proc.stderr


def test_no_arguments_without_a_screen_says_so_and_shows_the_status(sufler_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "desktop.cli"], capture_output=True, text=True, cwd=ROOT,
                          env={**env, "SUFLER_HOME": str(sufler_home), "SUFLER_EMBEDDING__MODEL": "none"},
                          timeout=300)
    assert proc.returncode == 1 and "Нет экрана" in proc.stderr and "Traceback" not in proc.stderr
    assert "Суфлёр" in proc.stdout and "по леммам" in proc.stdout
