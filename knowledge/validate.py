"""The playbook validator: every problem with its file, line and reason, in Russian.

Errors make ``sufler kb validate`` exit non-zero and block building and publishing; warnings are
shown but do not block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import process

from knowledge.cards import ANY, KINDS, KNOWN_FIELDS, LIST_FIELDS, TEXT_FIELDS, Card
from knowledge.playbook import MANIFEST, Playbook, PlaybookError, load_playbook, read_manifest
from knowledge.taxonomy import Taxonomy, default_taxonomy

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
NEEDS_TRIGGERS = frozenset({"objection", "signal"})
NEEDS_SAY = frozenset({"objection", "signal", "case"})
SAY_MAX_CHARS = 320


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str
    severity: str = "error"  # or "warning"
    code: str = ""

    def __str__(self) -> str:
        word = "ошибка" if self.severity == "error" else "предупреждение"
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {word}: {self.message}"


def _hint(word: str, choices: Iterable[str]) -> str:
    match = process.extractOne(word, list(choices), score_cutoff=70)
    return f" (может быть, {match[0]}?)" if match else ""


class _Checker:
    def __init__(self, taxonomy: Taxonomy, industries: dict[str, str]) -> None:
        self.tax = taxonomy
        self.industries = industries
        self.problems: list[Problem] = []

    def add(self, card: Card, key: str, message: str, code: str, severity: str = "error") -> None:
        self.problems.append(Problem(card.path, card.line_of(key), message, severity, code))

    def check(self, card: Card) -> None:
        for key in card.raw:
            if key not in KNOWN_FIELDS:
                self.add(card, key, f"неизвестное поле '{key}'{_hint(str(key), KNOWN_FIELDS)}",
                         "unknown-field", "warning")
        for key in LIST_FIELDS:
            value = card.raw.get(key)
            if value is not None and not isinstance(value, list | str):
                self.add(card, key, f"поле '{key}' должно быть списком: [a, b] или строками '- a'", "type")
        for key in TEXT_FIELDS:
            value = card.raw.get(key)
            if isinstance(value, list | dict):
                self.add(card, key, f"поле '{key}' должно быть одной строкой текста", "type")
        self._identity(card)
        self._ids(card, "handles", self.tax.categories, "неизвестная категория", "unknown-category")
        self._ids(card, "pipelines", self.tax.pipelines, "неизвестная воронка", "unknown-pipeline")
        known_industries = {**self.industries, ANY: ""}
        self._ids(card, "industries", known_industries, "неизвестная отрасль", "unknown-industry")
        self._kind_rules(card)
        if not card.body:
            self.add(card, "body", "пустой текст карточки: под шапкой нужен текст для поиска и чтения",
                     "empty-body")

    def _identity(self, card: Card) -> None:
        if not card.id:
            self.add(card, "id", "нет поля 'id' (уникальный код карточки латиницей)", "missing-id")
        elif not ID_PATTERN.match(card.id):
            self.add(card, "id", f"id '{card.id}': только строчные латинские буквы, цифры, '-' и '_'",
                     "bad-id")
        if not card.title:
            self.add(card, "title", "нет заголовка (поле 'title')", "missing-title")
        if not card.kind:
            self.add(card, "kind", f"нет поля 'kind'; возможные типы: {', '.join(KINDS)}", "missing-kind")
        elif card.kind not in KINDS:
            self.add(card, "kind", f"неизвестный тип '{card.kind}'{_hint(card.kind, KINDS)}; "
                     f"возможные: {', '.join(KINDS)}", "unknown-kind")

    def _ids(self, card: Card, key: str, known: Mapping[str, object], what: str,
             code: str) -> None:
        for i, value in enumerate(getattr(card, key)):
            if value not in known:
                self.add(card, f"{key}[{i}]", f"{what} '{value}'{_hint(value, known)}", code)

    def _kind_rules(self, card: Card) -> None:
        kind = card.kind
        if kind in NEEDS_TRIGGERS:
            if not card.handles:
                self.add(card, "handles", "карточка-ответ должна указать, какие ситуации она закрывает "
                         "(поле 'handles')", "missing-handles")
            if not card.triggers:
                self.add(card, "triggers", "нет фраз клиента (поле 'triggers'): без них подсказка "
                         "не появится в звонке", "missing-triggers")
            for i, cat in enumerate(card.handles):
                category = self.tax.categories.get(cat)
                if category is not None and category.kind != kind:
                    self.add(card, f"handles[{i}]", f"категория '{cat}' — это {category.kind}, "
                             f"а карточка имеет тип {kind}", "kind-mismatch", "warning")
        if kind in NEEDS_SAY and not card.say:
            self.add(card, "say", "нет строки 'say': что менеджер скажет прямо сейчас", "missing-say")
        if len(card.say) > SAY_MAX_CHARS:
            self.add(card, "say", f"строка 'say' длиннее {SAY_MAX_CHARS} знаков: в панели её не "
                     "успеют прочитать", "long-say", "warning")
        if kind == "script":
            if not card.checklist:
                self.add(card, "checklist", "сценарий без чек-листа (поле 'checklist' с шагами "
                         "звонка)", "missing-checklist")
            for step in card.checklist:
                if step not in self.tax.checklist_steps:
                    self.add(card, f"checklist.{step}", f"неизвестный шаг чек-листа '{step}'"
                             f"{_hint(step, self.tax.checklist_steps)}", "unknown-step")
        elif card.checklist:
            self.add(card, "checklist", "чек-лист бывает только у сценария (kind: script)",
                     "checklist-not-script", "warning")


def validate_playbook(root: Path, taxonomy: Taxonomy | None = None) -> list[Problem]:
    """All problems of the playbook folder, sorted by file and line."""
    tax = taxonomy or default_taxonomy()
    try:
        manifest = read_manifest(root)
        playbook: Playbook = load_playbook(root)
    except PlaybookError as exc:
        return [Problem(root / MANIFEST, _line_from(str(exc)), str(exc).split(": ", 2)[-1], code="manifest")]
    checker = _Checker(tax, manifest.industries)
    for bad in playbook.unreadable:
        checker.problems.append(Problem(bad.path, bad.line, bad.reason, code="unreadable"))
    seen: dict[str, Card] = {}
    for card in playbook.cards:
        checker.check(card)
        if card.id and card.id in seen:
            first = seen[card.id]
            checker.add(card, "id", f"id '{card.id}' уже занят карточкой {first.path.name}:"
                        f"{first.line_of('id')}", "duplicate-id")
        elif card.id:
            seen[card.id] = card
    if not playbook.cards and not playbook.unreadable:
        checker.problems.append(Problem(root, 0, "в папке нет ни одной карточки (*.md)", code="empty"))
    handled = {cat for card in playbook.cards for cat in card.handles if card.kind in NEEDS_TRIGGERS}
    for cat_id, cat in tax.categories.items():
        if cat_id not in handled and (playbook.cards or playbook.unreadable):
            checker.problems.append(Problem(
                root, 0, f"ни одна карточка-ответ не закрывает категорию '{cat_id}' («{cat.label}»): "
                "в звонке на неё не будет подсказки", code="uncovered-category"))
    return sorted(checker.problems, key=lambda p: (str(p.path), p.line, p.message))


def _line_from(message: str) -> int:
    match = re.search(r":(\d+):", message)
    return int(match.group(1)) if match else 1


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
