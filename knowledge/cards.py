"""The card format: a Markdown file with a YAML front matter between two ``---`` lines.

The front matter is parsed with PyYAML's node API so every field and list item keeps its line
number: the validator and the admin see ``file:line`` for each problem. python-frontmatter was not
used because it drops that position information.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KINDS: dict[str, str] = {
    "objection": "Ответ на возражение",
    "signal": "Ответ на сигнал клиента",
    "case": "Кейс",
    "script": "Сценарий звонка",
    "qualification": "Квалификация",
    "fact": "Факт о продукте",
    "guide": "Памятка",
}
LIST_FIELDS = ("handles", "pipelines", "industries", "triggers", "exclude", "tags")
TEXT_FIELDS = ("id", "kind", "title", "say", "client", "result")
KNOWN_FIELDS = frozenset((*LIST_FIELDS, *TEXT_FIELDS, "checklist"))
ANY = "any"


class CardFormatError(Exception):
    """A card file that cannot be read at all (encoding, missing front matter, YAML syntax)."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass
class Card:
    path: Path
    id: str
    kind: str
    title: str
    body: str
    handles: list[str] = field(default_factory=list)
    pipelines: list[str] = field(default_factory=list)  # empty: every pipeline
    industries: list[str] = field(default_factory=list)  # empty or ["any"]: every industry
    triggers: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    say: str = ""
    client: str = ""
    result: str = ""
    checklist: dict[str, str] = field(default_factory=dict)
    # Where things are in the file: "title" -> line, "handles[2]" -> line, "body" -> first body line.
    lines: dict[str, int] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def line_of(self, key: str) -> int:
        return self.lines.get(key) or self.lines.get(key.split("[")[0]) or 1

    def fits_every_industry(self) -> bool:
        return not self.industries or ANY in self.industries


def split_front_matter(text: str, path: Path) -> tuple[str, str, int]:
    """Return (front matter, body, line number where the body starts)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise CardFormatError(path, 1, "файл должен начинаться со строки '---' и шапки карточки (YAML)")
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), i + 2
    raise CardFormatError(path, 1, "шапка карточки не закрыта второй строкой '---'")


def _node_lines(node: yaml.Node, offset: int) -> dict[str, int]:
    """Map top-level keys (and list items / checklist keys) to 1-based file lines."""
    out: dict[str, int] = {}
    if not isinstance(node, yaml.MappingNode):
        return out
    for key_node, value_node in node.value:
        key = str(key_node.value)
        out.setdefault(key, key_node.start_mark.line + offset)
        if isinstance(value_node, yaml.SequenceNode):
            for i, item in enumerate(value_node.value):
                out[f"{key}[{i}]"] = item.start_mark.line + offset
        elif isinstance(value_node, yaml.MappingNode):
            for sub_key, _ in value_node.value:
                out[f"{key}.{sub_key.value}"] = sub_key.start_mark.line + offset
    return out


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [str(value).strip()]


def _as_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def parse_card_text(text: str, path: Path) -> Card:
    """Parse one card. Raises CardFormatError only when the file cannot be read as a card at all;
    wrong values (unknown ids, missing fields) are left to the validator."""
    front, body, body_line = split_front_matter(text, path)
    try:
        node = yaml.compose(front, Loader=yaml.SafeLoader)
        data = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CardFormatError(path, line, f"ошибка в шапке (YAML): {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CardFormatError(path, 2, "шапка карточки должна состоять из строк вида 'поле: значение'")
    lines = _node_lines(node, offset=2) if node is not None else {}
    lines["body"] = body_line
    checklist_raw = data.get("checklist")
    checklist: dict[str, str] = {}
    if isinstance(checklist_raw, dict):
        checklist = {str(k): _as_text(v) for k, v in checklist_raw.items()}
    elif isinstance(checklist_raw, list):  # a plain list of step ids is accepted too
        checklist = {str(k): "" for k in checklist_raw}
    return Card(
        path=path,
        id=_as_text(data.get("id")),
        kind=_as_text(data.get("kind")),
        title=_as_text(data.get("title")),
        body=body.strip(),
        handles=_as_list(data.get("handles")),
        pipelines=_as_list(data.get("pipelines")),
        industries=_as_list(data.get("industries")),
        triggers=_as_list(data.get("triggers")),
        tags=_as_list(data.get("tags")),
        say=_as_text(data.get("say")),
        client=_as_text(data.get("client")),
        result=_as_text(data.get("result")),
        checklist=checklist,
        lines=lines,
        raw=data,
    )


def read_card(path: Path) -> Card:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardFormatError(path, 1, f"файл не в кодировке UTF-8 (байт {exc.start})") from exc
    except OSError as exc:
        raise CardFormatError(path, 1, f"файл не читается: {exc.strerror or exc}") from exc
    return parse_card_text(text.replace("\r\n", "\n"), path)


def is_card_file(path: Path) -> bool:
    return path.suffix.lower() == ".md" and not path.name.startswith(("_", ".")) and path.name != "README.md"


def card_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.md") if is_card_file(p) and not _hidden(p, folder))


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith((".", "_")) for part in path.relative_to(root).parts[:-1])
