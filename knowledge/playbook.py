"""A playbook folder: ``playbook.yaml`` (name, version, industries) and the card files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from knowledge.cards import Card, CardFormatError, card_files, read_card

MANIFEST = "playbook.yaml"


class PlaybookError(Exception):
    """The playbook folder cannot be used (missing, unreadable manifest, or invalid cards)."""


@dataclass
class Playbook:
    root: Path
    name: str
    version: int
    industries: dict[str, str]
    cards: list[Card]
    unreadable: list[CardFormatError] = field(default_factory=list)
    synonyms: list[list[str]] = field(default_factory=list)

    def by_id(self) -> dict[str, Card]:
        return {c.id: c for c in self.cards}

    def content_hash(self) -> str:
        return playbook_hash(self.root)


def playbook_hash(root: Path) -> str:
    """Hash of every file that affects the index (a change means the index is stale); reads the
    bytes only, so checking freshness at start-up does not parse every card."""
    digest = hashlib.sha256()
    for path in [root / MANIFEST, *card_files(root)]:
        if path.exists():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Manifest:
    name: str
    version: int
    industries: dict[str, str]
    lines: dict[str, int]
    synonyms: list[list[str]] = field(default_factory=list)


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.exists():
        return Manifest(name=root.name, version=0, industries={}, lines={})
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise PlaybookError(f"{path}:{line}: ошибка YAML: {getattr(exc, 'problem', exc)}") from exc
    except UnicodeDecodeError as exc:
        raise PlaybookError(f"{path}:1: файл не в кодировке UTF-8") from exc
    if not isinstance(data, dict):
        raise PlaybookError(f"{path}:1: ожидались строки вида 'поле: значение'")
    industries = data.get("industries") or {}
    if isinstance(industries, list):
        industries = {str(i): str(i) for i in industries}
    if not isinstance(industries, dict):
        raise PlaybookError(f"{path}: поле industries должно быть списком отраслей 'код: название'")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            lines[str(key_node.value)] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.MappingNode):
                for sub, _ in value_node.value:
                    lines[f"{key_node.value}.{sub.value}"] = sub.start_mark.line + 1
    try:
        version = int(data.get("version") or 0)
    except (TypeError, ValueError) as exc:
        raise PlaybookError(f"{path}:{lines.get('version', 1)}: version должен быть целым числом") from exc
    synonyms = data.get("synonyms") or []
    if not isinstance(synonyms, list) or not all(isinstance(g, list) for g in synonyms):
        raise PlaybookError(f"{path}:{lines.get('synonyms', 1)}: synonyms должен быть списком групп "
                            "слов: - [дорого, дороговато]")
    return Manifest(
        name=str(data.get("name") or root.name),
        version=version,
        industries={str(k): str(v) for k, v in industries.items()},
        lines=lines,
        synonyms=[[str(w) for w in group if w is not None] for group in synonyms],
    )


def load_playbook(root: Path) -> Playbook:
    """Read every card; unreadable files are collected, not raised, so one bad card never hides
    the others. Use ``validate_playbook`` to decide whether the playbook may be used."""
    if not root.is_dir():
        raise PlaybookError(f"{root}: папка плейбука не найдена")
    manifest = read_manifest(root)
    cards: list[Card] = []
    unreadable: list[CardFormatError] = []
    for path in card_files(root):
        try:
            cards.append(read_card(path))
        except CardFormatError as exc:
            unreadable.append(exc)
    return Playbook(root, manifest.name, manifest.version, manifest.industries, cards, unreadable,
                    manifest.synonyms)
