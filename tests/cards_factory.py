"""Small playbooks written on the fly for validator and index tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from knowledge.taxonomy import default_taxonomy

MANIFEST = """name: "Тестовый плейбук"
version: 3
industries:
  hvac: "Климат"
  furniture: "Мебель"
"""


def card_text(**fields: object) -> str:
    body = str(fields.pop("body", "Текст карточки для поиска."))
    front = yaml.safe_dump(fields, allow_unicode=True, sort_keys=False)
    return f"---\n{front}---\n{body}\n"


def write_card(root: Path, name: str, **fields: object) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(card_text(**fields), encoding="utf-8")
    return path


def complete_playbook(root: Path) -> Path:
    """A valid playbook: one answer per category, one script, one case."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "playbook.yaml").write_text(MANIFEST, encoding="utf-8")
    tax = default_taxonomy()
    for cat_id, cat in tax.categories.items():
        write_card(root, f"answers/{cat_id}.md", id=f"{cat.kind}-{cat_id.replace('_', '-')}", kind=cat.kind,
                   title=f"Ответ: {cat.label}", handles=[cat_id], triggers=list(cat.examples),
                   say=f"Скажите так про «{cat.label}».", body=f"## {cat.label}\nКак отвечать: {cat.label}.")
    write_card(root, "scripts/project.md", id="script-project", kind="script", title="Проектный звонок",
               pipelines=["project"], checklist={"greeting": "Добрый день", "next_step": "Встретимся во вторник"},
               body="Цель звонка: договориться о встрече.")
    write_card(root, "cases/hvac.md", id="case-hvac", kind="case", title="Кейс: вентиляция склада",
               industries=["hvac"], pipelines=["project"], handles=["need_proof"],
               say="Склад в Казани сэкономил 20% на отоплении.", body="Клиент: склад. Результат: минус 20%.")
    return root
