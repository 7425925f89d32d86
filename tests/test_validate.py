from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.validate import Problem, errors, validate_playbook
from tests.cards_factory import complete_playbook, write_card
from tests.conftest import BUNDLED_KB, ROOT


def problems_for(root: Path, code: str) -> list[Problem]:
    return [p for p in validate_playbook(root) if p.code == code]


def test_bundled_playbook_has_no_errors() -> None:
    found = errors(validate_playbook(BUNDLED_KB))
    assert found == [], "\n".join(map(str, found))


def test_complete_playbook_is_clean(tmp_path: Path) -> None:
    assert errors(validate_playbook(complete_playbook(tmp_path / "kb"))) == []


def test_bad_yaml_reports_file_and_line(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    bad = root / "broken.md"
    bad.write_text("---\nid: broken\ntitle: \"Незакрытая кавычка\nkind: objection\n---\nТекст\n", encoding="utf-8")
    [problem] = problems_for(root, "unreadable")
    assert problem.path == bad and problem.line >= 3
    assert "YAML" in problem.message


def test_missing_front_matter_and_non_utf8(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    (root / "plain.md").write_text("Просто текст без шапки\n", encoding="utf-8")
    (root / "cp1251.md").write_bytes("---\nid: x\n---\nДорого\n".encode("cp1251"))
    found = {p.path.name: p for p in problems_for(root, "unreadable")}
    assert "'---'" in found["plain.md"].message and found["plain.md"].line == 1
    assert "UTF-8" in found["cp1251.md"].message


def test_unknown_category_points_at_the_list_item(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    path = write_card(root, "x.md", id="objection-x", kind="objection", title="X",
                      handles=["price_too_high", "prise_too_high"], triggers=["дорого"], say="Скажите.")
    [problem] = problems_for(root, "unknown-category")
    assert problem.path == path
    lines = path.read_text(encoding="utf-8").splitlines()
    assert "prise_too_high" in lines[problem.line - 1]
    assert "price_too_high" in problem.message  # a suggestion for the typo


def test_unknown_checklist_step(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    path = write_card(root, "s.md", id="script-s", kind="script", title="S",
                      checklist={"greeting": "Добрый день", "greting_twice": "Ещё раз привет"})
    [problem] = problems_for(root, "unknown-step")
    assert "greting_twice" in path.read_text(encoding="utf-8").splitlines()[problem.line - 1]


def test_missing_title_kind_and_empty_body(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    write_card(root, "t.md", id="fact-t", kind="fact", body="")
    write_card(root, "k.md", id="fact-k", title="Без типа")
    assert [p.path.name for p in problems_for(root, "missing-title")] == ["t.md"]
    assert [p.path.name for p in problems_for(root, "empty-body")] == ["t.md"]
    assert [p.path.name for p in problems_for(root, "missing-kind")] == ["k.md"]


def test_duplicate_id_names_the_first_file(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    write_card(root, "zz/dup.md", id="case-hvac", kind="fact", title="Дубль")
    [problem] = problems_for(root, "duplicate-id")
    assert problem.path.name == "dup.md" and "hvac.md" in problem.message and problem.line == 2


def test_category_that_no_card_handles(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    (root / "answers" / "no_time.md").unlink()
    [problem] = problems_for(root, "uncovered-category")
    assert "no_time" in problem.message


def test_answer_without_triggers_or_say_and_unknown_ids(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    write_card(root, "a.md", id="objection-a", kind="objection", title="A", handles=["no_time"],
               pipelines=["projekt"], industries=["spaceships"])
    codes = {p.code for p in validate_playbook(root) if p.path.name == "a.md"}
    assert {"missing-triggers", "missing-say", "unknown-pipeline", "unknown-industry"} <= codes


def test_unknown_field_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    write_card(root, "w.md", id="fact-w", kind="fact", title="W", trigers=["x"])
    [problem] = problems_for(root, "unknown-field")
    assert problem.severity == "warning" and "triggers" in problem.message


def test_bad_manifest_is_reported(tmp_path: Path) -> None:
    root = complete_playbook(tmp_path / "kb")
    (root / "playbook.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    [problem] = validate_playbook(root)
    assert problem.path.name == "playbook.yaml" and problem.severity == "error"


@pytest.mark.parametrize("broken", [False, True])
def test_cli_exit_code_and_output(tmp_path: Path, broken: bool) -> None:
    root = complete_playbook(tmp_path / "kb")
    if broken:
        write_card(root, "bad.md", id="Bad Id", kind="objection", title="Плохо", handles=["nope"])
    proc = subprocess.run([sys.executable, "-m", "desktop.cli", "kb", "validate", str(root)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == (1 if broken else 0)
    assert "Traceback" not in proc.stderr
    if broken:
        assert f"{root / 'bad.md'}:" in proc.stdout and "nope" in proc.stdout
    assert "ошибок" in proc.stderr
