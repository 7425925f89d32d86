"""Speech commands of ``sufler``: models (list, download, import), capture devices, transcribe a WAV.

``register(app)`` adds them to the main typer app (desktop/cli.py). Errors are raised as
``SpeechModelError`` / ``AudioError`` and printed as one line by ``desktop.cli.main``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from assist.vosk_models import CATALOGUE, SpeechModelError, installed_models, resolve_model, vosk_dir
from knowledge.settings import load_settings, save_settings

models_app = typer.Typer(help="Модели распознавания речи (vosk).", no_args_is_help=True)
err = Console(stderr=True, highlight=False)
SPEAKER_LABELS = {"manager": "менеджер", "client": "клиент"}


def register(app: typer.Typer) -> None:
    """Add ``models``, ``devices`` and ``transcribe`` to the ``sufler`` command."""
    app.add_typer(models_app, name="models")
    app.command("devices")(devices)
    app.command("transcribe")(transcribe)


@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json", help="Вывести JSON")] = False) -> None:
    """Каталог моделей и установленные модели; * — выбранная в настройках."""
    active = load_settings().speech.model
    installed = {p.name: p for p in installed_models()}
    rows = [{"name": m.name, "size_mb": m.size_mb, "installed": m.name in installed, "active": m.name == active,
             "note": m.note, "path": str(installed.get(m.name, "")) or None} for m in CATALOGUE.values()]
    rows += [{"name": name, "size_mb": None, "installed": True, "active": name == active or str(path) == active,
              "note": "импортирована", "path": str(path)} for name, path in installed.items() if name not in CATALOGUE]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        mark = "*" if row["active"] else " "
        state = "установлена" if row["installed"] else "не скачана"
        size = f"{row['size_mb']} МБ" if row["size_mb"] else ""
        typer.echo(f"{mark} {row['name']:<28} {size:>8}  {state:<12} {row['note']}")
    typer.echo(f"Папка моделей: {vosk_dir()}")


def _use(name: str) -> None:
    settings = load_settings()
    settings.speech.model = name
    save_settings(settings)


@models_app.command("download")
def models_download(name: Annotated[str, typer.Argument(help="Имя модели из каталога (sufler models list)")]) -> None:
    """Скачать модель (с продолжением прерванной загрузки и проверкой) и выбрать её."""
    from assist.vosk_models import download_model

    if name not in CATALOGUE:
        raise SpeechModelError(f"неизвестная модель '{name}'; в каталоге: {', '.join(CATALOGUE)}")
    progress = Progress(TextColumn(name), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=err,
                        transient=True, disable=not err.is_terminal)
    task = progress.add_task("download", total=None)

    def report(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total or None)

    with progress:
        folder = download_model(name, progress=report)
    _use(name)
    typer.echo(f"Модель {name} установлена в {folder} и выбрана для распознавания")


@models_app.command("import")
def models_import(path: Annotated[Path, typer.Argument(help="Папка модели vosk или zip-архив")]) -> None:
    """Установить модель из папки или zip-архива (без интернета) и выбрать её."""
    from assist.vosk_models import import_model

    with err.status(f"Устанавливаю {path}…"):
        folder = import_model(path)
    _use(folder.name)
    typer.echo(f"Модель {folder.name} установлена в {folder} и выбрана для распознавания")


def devices(as_json: Annotated[bool, typer.Option("--json", help="Вывести JSON")] = False) -> None:
    """Устройства записи: микрофоны и звук системы (monitor/loopback), с host API и числом каналов."""
    from assist.audio.devices import list_devices

    found, problems = list_devices()
    for problem in problems:
        err.print(f"[yellow]{problem}[/]")
    if as_json:
        typer.echo(json.dumps([d.to_json() for d in found], ensure_ascii=False, indent=1))
        return
    if not found:
        typer.echo("Устройств записи не найдено.")
    for d in found:
        kind = "звук системы" if d.loopback else ("вход" if d.inputs else "выход")
        rate = f", {d.default_rate:.0f} Гц" if d.default_rate else ""
        typer.echo(f"{'*' if d.default else ' '} {d.backend}:{d.id}  {d.name}  [{d.host_api}; {kind}; "
                   f"входы {d.inputs}, выходы {d.outputs}{rate}]")
    settings = load_settings().speech
    typer.echo(f"Менеджер: {settings.manager_device or 'по умолчанию'}; клиент: "
               f"{settings.client_device or 'звук системы по умолчанию'} (настройки speech.*_device)")


def transcribe(
    file: Annotated[Path, typer.Argument(help="WAV: стерео (левый — менеджер, правый — клиент) или моно")],
    client: Annotated[Path | None, typer.Option("--client", help="Второй моно-файл: клиент")] = None,
    speaker: Annotated[str, typer.Option("--speaker", help="Кто говорит в моно-файле: manager|client")]
    = "manager",
    model: Annotated[Path | None, typer.Option("--model", help="Папка модели vosk")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Строки JSON: speaker, start, end, text, words")] = False,
    realtime: Annotated[bool, typer.Option("--realtime", help="В реальном времени, как на звонке")] = False,
) -> None:
    """Распознать звонок из WAV: фразы с говорящим и временем."""
    from assist.audio import WavFileSource
    from assist.speech import SpeechEngine, SpeechResult, load_model

    if speaker not in SPEAKER_LABELS:
        raise typer.BadParameter("manager или client", param_hint="--speaker")
    source = WavFileSource(file, client, speaker=speaker, realtime=realtime)  # type: ignore[arg-type]
    folder = model if model is not None else resolve_model(load_settings().speech.model)
    with err.status("Загружаю модель распознавания…"):
        vosk_model = load_model(folder)
    engine = SpeechEngine(vosk_model, source)
    engine.start()
    finals: list[SpeechResult] = []
    for result in engine:
        if result.kind != "final":
            continue
        finals.append(result)
        if not as_json:
            typer.echo(f"[{result.start:7.2f} – {result.end:7.2f}] {SPEAKER_LABELS[result.channel]}: {result.text}")
    if as_json:
        for result in sorted(finals, key=lambda r: r.start):
            typer.echo(json.dumps({"speaker": result.channel, "start": round(result.start, 3),
                                   "end": round(result.end, 3), "text": result.text,
                                   "words": result.to_json()["words"]}, ensure_ascii=False))
    for problem in engine.failures.values():
        err.print(f"[yellow]{problem}[/]")
    if engine.failures:
        raise typer.Exit(1)
