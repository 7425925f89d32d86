"""``sufler analyze``: the analysis result of one call transcript (headless, no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("analyze")
    def analyze(
        call: Annotated[Path, typer.Argument(help="Расшифровка звонка (.jsonl)")],
        as_json: Annotated[bool, typer.Option("--json", help="Вывести JSON")] = False,
    ) -> None:
        """Разобрать звонок: подсказки, чек-лист, карточка CRM."""
        from assist.analysis import CallAnalyzer
        from assist.transcript import read_transcript
        from knowledge.engine import KnowledgeBase
        from knowledge.settings import load_settings

        transcript = read_transcript(call)
        for problem in transcript.problems:
            err.print(f"[yellow]{problem}[/]")
        kb = KnowledgeBase(load_settings())
        with err.status("Готовлю плейбук…"):
            analyzer = CallAnalyzer(kb)
        result = analyzer.analyze(transcript)
        kb.close()
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False, indent=1))
            return
        typer.echo(f"Звонок {result['call_id']}: подсказок {len(result['hints'])}")
        for hint in result["hints"]:
            typer.echo(f"  {hint['evidence_at']:7.1f} с  {hint['category']}: {hint['title']}")
            typer.echo(f"             «{hint['evidence']}»")
        done = [k for k, v in result["checklist"].items() if v]
        typer.echo(f"Чек-лист: {len(done)} из {len(result['checklist'])}: {', '.join(done)}")
