"""The shared ids (``resources/taxonomy.yaml``, a copy of the contract): categories, steps, pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from knowledge.settings import RESOURCES

TAXONOMY_PATH = RESOURCES / "taxonomy.yaml"


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    kind: str  # "objection" or "signal"
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    categories: dict[str, Category]
    checklist_steps: dict[str, str]
    pipelines: dict[str, str]
    lead_sources: tuple[str, ...]
    urgency: tuple[str, ...]
    outcomes: dict[str, str]
    refusal_reasons: tuple[str, ...]

    def label(self, category_id: str) -> str:
        cat = self.categories.get(category_id)
        return cat.label if cat else category_id


def load_taxonomy(path: Path = TAXONOMY_PATH) -> Taxonomy:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    cats = {
        cid: Category(cid, str(v["label"]), str(v["kind"]), tuple(v.get("examples", [])))
        for cid, v in raw["categories"].items()
    }
    return Taxonomy(
        categories=cats,
        checklist_steps={k: str(v) for k, v in raw["checklist_steps"].items()},
        pipelines={k: str(v) for k, v in raw["pipelines"].items()},
        lead_sources=tuple(raw["lead_sources"]),
        urgency=tuple(raw["urgency"]),
        outcomes={k: str(v) for k, v in raw["outcomes"].items()},
        refusal_reasons=tuple(raw["refusal_reasons"]),
    )


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    return load_taxonomy()
