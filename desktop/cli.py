"""The ``sufler`` command line. Engine commands run headless; Qt is imported only by the app.

typer gives typed options, help and usage errors without tracebacks; rich draws progress on
stderr so stdout stays clean for ``--json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from assist.audio.errors import AudioError
from assist.call_store import CallStoreError
from assist.transcript import TranscriptError
from assist.vosk_models import SpeechModelError
from knowledge.cards import KINDS
from knowledge.embeddings import EmbeddingModelError
from knowledge.engine import KnowledgeBase
from knowledge.index import Progress as ProgressFn
from knowledge.playbook import PlaybookError
from knowledge.settings import RESOURCES, SettingsError, load_settings, save_settings
from knowledge.store import IndexError_, SearchFilter
from knowledge.taxonomy import default_taxonomy
from sync.errors import SyncError

app = typer.Typer(help="Суфлёр: подсказки менеджеру по продажам во время звонка.", no_args_is_help=False,
                  add_completion=False, pretty_exceptions_enable=False)
kb_app = typer.Typer(help="Плейбук: проверка, индекс, поиск.", no_args_is_help=True)
model_app = typer.Typer(help="Смысловая модель для поиска.", no_args_is_help=True)
kb_app.add_typer(model_app, name="model")
app.add_typer(kb_app, name="kb")

err = Console(stderr=True, highlight=False)
STAGES = {"embed": "Смысловые векторы", "store": "Запись в индекс"}


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]Ошибка:[/] {message}", markup=True, soft_wrap=True)
    return typer.Exit(code)


def _progress() -> tuple[Progress, ProgressFn]:
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)
    tasks: dict[str, TaskID] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(STAGES.get(stage, stage), total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return progress, report


def _knowledge(playbook: Path | None = None) -> KnowledgeBase:

    return KnowledgeBase(load_settings(), playbook)


@app.callback(invoke_without_command=True)
def main_callback(ctx: typer.Context) -> None:
    """Без команды: запустить приложение (значок в трее, панель, поиск)."""
    from desktop.cli_distribution import recover_at_startup

    recover_at_startup()
    if ctx.invoked_subcommand is None:
        if not _has_screen():
            err.print("Нет экрана (DISPLAY не задан): приложение не запустить. Состояние ниже; "
                      "команды без окна: sufler --help")
            status()
            raise typer.Exit(1)
        from desktop.app.main import run

        raise typer.Exit(run([]))


def _has_screen() -> bool:
    """Qt aborts the process when it finds no display, so ask first (Linux without X or Wayland)."""
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@app.command()
def status() -> None:
    """Состояние: плейбук, режим поиска, индекс."""
    kb = _knowledge()
    _, mode = kb.embedder()
    typer.echo("Суфлёр")
    typer.echo(f"  плейбук: {kb.playbook_dir}")
    typer.echo(f"  режим: {mode.describe()}")
    try:
        with err.status("Готовлю индекс…"):
            searcher = kb.searcher()
        meta = searcher.index.meta
        typer.echo(f"  индекс: {meta.cards} карточек, {meta.chunks} фрагментов ({meta.engine})")
    finally:
        kb.close()
    for notice in kb.notices:
        err.print(f"[yellow]{notice.text}[/]")
    typer.echo("Команды: sufler kb search «что ответить на дорого», sufler kb --help")


@kb_app.command("validate")
def kb_validate(directory: Annotated[Path, typer.Argument(help="Папка плейбука")]) -> None:
    """Проверить плейбук: каждая ошибка с файлом, строкой и причиной."""
    from knowledge.validate import validate_playbook

    if not directory.is_dir():
        raise fail(f"{directory}: папка не найдена", 2)
    problems = validate_playbook(directory)
    for problem in problems:
        typer.echo(str(problem))
    n_err = sum(1 for p in problems if p.severity == "error")
    n_warn = len(problems) - n_err
    from knowledge.playbook import load_playbook

    n_cards = len(load_playbook(directory).cards)
    summary = f"Проверено карточек: {n_cards}; ошибок: {n_err}; предупреждений: {n_warn}"
    if n_err:
        err.print(f"[red]{summary}[/]")
        raise typer.Exit(1)
    err.print(f"[green]{summary}[/]")


@kb_app.command("build")
def kb_build(directory: Annotated[Path | None, typer.Argument(help="Папка плейбука (по умолчанию встроенный)")]
             = None) -> None:
    """Построить индекс плейбука и сделать его активным."""
    settings = load_settings()
    target = (directory or RESOURCES / "kb").resolve()
    if not target.is_dir():
        raise fail(f"{target}: папка не найдена", 2)
    settings.playbook.path = "" if directory is None else str(target)
    kb = KnowledgeBase(settings, target)
    _, mode = kb.embedder()
    err.print(f"Режим: {mode.describe()}")
    progress, report = _progress()
    with progress:
        meta = kb.build(report)
    kb.close()
    save_settings(settings)
    from sync.apply import deactivate

    if deactivate(settings):
        err.print("[yellow]версия плейбука из канала отключена; вернуть её: sufler kb rollback[/]")
    typer.echo(f"Индекс построен: {meta.cards} карточек, {meta.chunks} фрагментов за "
               f"{meta.build_seconds:.1f} с ({target})")


@kb_app.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="Что ищем, своими словами")],
    as_json: Annotated[bool, typer.Option("--json", help="Вывести JSON")] = False,
    limit: Annotated[int, typer.Option("--limit", "-k", min=1, max=100, help="Сколько карточек")] = 5,
    kind: Annotated[str | None, typer.Option(help="Тип карточки: " + ", ".join(KINDS))] = None,
    pipeline: Annotated[str | None, typer.Option(help="Воронка")] = None,
    industry: Annotated[str | None, typer.Option(help="Отрасль из playbook.yaml")] = None,
) -> None:
    """Найти карточки плейбука (гибридный поиск; без модели — по леммам)."""
    tax = default_taxonomy()
    if kind and kind not in KINDS:
        raise fail(f"неизвестный тип карточки '{kind}'; возможные: {', '.join(KINDS)}", 2)
    if pipeline and pipeline not in tax.pipelines:
        raise fail(f"неизвестная воронка '{pipeline}'; возможные: {', '.join(tax.pipelines)}", 2)
    kb = _knowledge()
    if industry:
        known = kb.playbook().industries
        if known and industry not in known:
            raise fail(f"неизвестная отрасль '{industry}'; возможные: {', '.join(known)}", 2)
    _, mode = kb.embedder()
    progress, report = _progress()
    with progress:
        searcher = kb.searcher(report)
    for notice in kb.notices:
        err.print(f"[yellow]{notice.text}[/]")
    if not searcher.hybrid and mode.hybrid:
        err.print("[yellow]индекс построен без смысловой модели: ищу по леммам[/]")
    results = searcher.search(query, limit, SearchFilter(kind=kind, pipeline=pipeline, industry=industry))
    kb.close()
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=1))
        return
    err.print(f"[dim]{mode.describe() if searcher.hybrid else 'поиск только по леммам'}[/]")
    if not results:
        typer.echo("Ничего не нашлось. Попробуйте другими словами.")
        return
    for n, r in enumerate(results, 1):
        labels = ", ".join(tax.label(h) for h in r.handles)
        typer.echo(f"{n}. {r.title}  [{KINDS.get(r.kind, r.kind)}{'; ' + labels if labels else ''}]")
        typer.echo(f"   {r.snippet}")
        typer.echo(f"   id: {r.card_id}  оценка: {r.score:.3f}")


@kb_app.command("stats")
def kb_stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Состав плейбука и состояние индекса."""
    from collections import Counter

    kb = _knowledge()
    playbook = kb.playbook()
    _, mode = kb.embedder()
    searcher = kb.searcher()
    meta = searcher.index.meta
    kinds = Counter(c.kind for c in playbook.cards)
    tax = default_taxonomy()
    coverage = {cat: sum(1 for c in playbook.cards if cat in c.handles and c.kind in ("objection", "signal"))
                for cat in tax.categories}
    data = {
        "playbook": str(kb.playbook_dir), "name": playbook.name, "version": playbook.version,
        "cards": len(playbook.cards), "kinds": dict(kinds), "coverage": coverage,
        "mode": "hybrid" if searcher.hybrid else "lemmas", "mode_text": mode.describe(),
        "model": meta.model_id or None, "engine": meta.engine, "chunks": meta.chunks,
        "vocabulary": len(meta.vocabulary), "build_seconds": round(meta.build_seconds, 2),
    }
    kb.close()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=1))
        return
    typer.echo(f"Плейбук: {data['name']} (версия {data['version']}), {kb.playbook_dir}")
    typer.echo("Карточки: " + ", ".join(f"{KINDS.get(k, k)} — {n}" for k, n in sorted(kinds.items())))
    typer.echo(f"Режим: {mode.describe()}")
    typer.echo(f"Индекс: {meta.engine}, {meta.chunks} фрагментов, словарь {len(meta.vocabulary)} лемм")
    thin = [tax.label(c) for c, n in coverage.items() if n < 1]
    if thin:
        typer.echo("Без ответа: " + ", ".join(thin))


@model_app.command("download")
def model_download(name: Annotated[str, typer.Argument(help="Имя модели sentence-transformers")]) -> None:
    """Скачать смысловую модель и выбрать её в настройках."""
    from knowledge.embeddings import download_model

    settings = load_settings()
    with err.status(f"Скачиваю {name}…"):
        folder = download_model(settings, name)
    settings.embedding.model = name
    save_settings(settings)
    typer.echo(f"Модель {name} в {folder}; выбрана для поиска. Перестройте индекс: sufler kb build")


@model_app.command("use")
def model_use(name: Annotated[str, typer.Argument(help="Папка, имя, builtin:use-multilingual или none")]) -> None:
    """Выбрать смысловую модель (папка с моделью, скачанное имя или none)."""
    from knowledge.embeddings import load_embedder

    settings = load_settings()
    settings.embedding.model = name
    _, mode = load_embedder(settings)
    if name.lower() != "none" and not mode.hybrid:
        raise fail(mode.reason, 2)
    save_settings(settings)
    typer.echo(f"Режим: {mode.describe()}")


def main() -> None:
    try:
        app()
    except (PlaybookError, SettingsError, IndexError_, EmbeddingModelError, UserError, SyncError,
            SpeechModelError, AudioError, TranscriptError, CallStoreError) as exc:
        err.print(f"[bold red]Ошибка:[/] {exc}", soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("Прервано.")
        sys.exit(130)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(f"[bold red]Ошибка ввода-вывода{where}:[/] {exc.strerror or exc}", soft_wrap=True)
        sys.exit(1)


from desktop.cli_distribution import register  # noqa: E402  (the kb keygen/publish/pull/rollback/status commands)

register(kb_app, _progress, STAGES)

from desktop.cli_speech import register as register_speech  # noqa: E402  (models, devices, transcribe)

register_speech(app)

from desktop.cli_calls import register as register_calls  # noqa: E402  (analyze)

register_calls(app)

from desktop.cli_crm import register as register_crm  # noqa: E402  (crm setup/test/push/outbox/export)

register_crm(app)

from desktop.cli_replay import register as register_replay  # noqa: E402  (replay)

register_replay(app)

if __name__ == "__main__":
    main()
