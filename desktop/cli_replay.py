"""``sufler replay CALL.(jsonl|wav)``: a call through the live engine, its events printed as they happen.

A transcript is replayed on its own timestamps, a WAV (stereo: left manager, right client) is
recognised by vosk on both channels; ``--speed`` 1 is real time, 4 four times faster, 0 as fast as
possible. Every event is stored in the calls database; the summary comes at the end. Headless, no
network: the active playbook, the speech model of the settings (or ``--model``).
"""

from __future__ import annotations

import json
import queue
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from assist.events import (
    CallEnded,
    CallStarted,
    ChannelProblem,
    ChecklistTick,
    Event,
    HintFeedback,
    HintShown,
    Levels,
    PartialText,
    SourceProblem,
    UtteranceFinal,
)

err = Console(stderr=True, highlight=False)
SPEAKERS = {"manager": "менеджер", "client": "клиент"}
REASONS = {"stopped": "остановлен", "silence": "тишина", "end_of_source": "конец записи", "error": "ошибка"}


def describe(event: Event) -> str | None:
    """One readable Russian line for an event (None: not shown without --partials / --levels)."""
    t = f"{event.at:7.1f} с"
    if isinstance(event, CallStarted):
        return f"{t}  звонок {event.call_id} начался ({event.source})"
    if isinstance(event, UtteranceFinal):
        return f"{t}  [{event.index}] {SPEAKERS[event.speaker]}: {event.text}"
    if isinstance(event, HintShown):
        case = f"; кейс {event.case_id}" if event.case_id else ""
        return (f"{t}  ПОДСКАЗКА #{event.hint_id} [{event.utterance}] {event.category} → {event.card_id}{case} "
                f"«{event.title}» (уверенность {event.confidence:.2f}, {event.latency_ms:.0f} мс; "
                f"слова клиента: «{event.evidence}»)")
    if isinstance(event, ChecklistTick):
        return f"{t}  чек-лист: {event.step} ✓ [{event.utterance}] «{event.words}»"
    if isinstance(event, ChannelProblem):
        return f"{t}  проблема канала «{SPEAKERS[event.speaker]}»: {event.message}"
    if isinstance(event, SourceProblem):
        return f"{t}  проблема: {event.message}"
    if isinstance(event, HintFeedback):
        return f"{t}  отметка подсказки #{event.hint_id}: {event.action}"
    if isinstance(event, CallEnded):
        return f"{t}  звонок окончен: {REASONS.get(event.reason, event.reason)}"
    if isinstance(event, PartialText):
        return f"{t}  … {SPEAKERS[event.speaker]}: {event.text}"
    if isinstance(event, Levels):
        return f"{t}  уровни: менеджер {event.manager_dbfs:.0f} дБ, клиент {event.client_dbfs:.0f} дБ"
    return None


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"Итог звонка {result.get('call_id')}: подсказок {len(result.get('hints', []))}"]
    for hint in result.get("hints", []):
        lines.append(f"  [{hint['utterance']}] {hint['at']:7.1f} с  {hint['category']}: {hint['card_id']}"
                     + (f" + {hint['case_id']}" if hint.get("case_id") else ""))
    checklist = result.get("checklist", {})
    done = [k for k, v in checklist.items() if v]
    lines.append(f"Чек-лист: {len(done)} из {len(checklist)}" + (f": {', '.join(done)}" if done else ""))
    card = {k: v for k, v in (result.get("card") or {}).items() if v not in (None, [], "")}
    if card:
        lines.append("Карточка CRM: " + ", ".join(f"{k}={v}" for k, v in card.items()))
    return lines


def register(app: typer.Typer) -> None:
    @app.command("replay")
    def replay(
        call: Annotated[Path, typer.Argument(help="Звонок: расшифровка .jsonl или WAV (стерео: левый — менеджер, "
                                                  "правый — клиент)")],
        speed: Annotated[float, typer.Option("--speed", help="Скорость: 1 — реальное время, 4 — вчетверо быстрее, "
                                                             "0 — как можно быстрее", min=0)] = 1.0,
        as_json: Annotated[bool, typer.Option("--json", help="Каждое событие — строка JSON")] = False,
        model: Annotated[Path | None, typer.Option("--model", help="Папка модели vosk (для WAV)")] = None,
        client: Annotated[Path | None, typer.Option("--client", help="Второй моно-файл WAV: клиент")] = None,
        partials: Annotated[bool, typer.Option("--partials", help="Показывать промежуточный текст")] = False,
        levels: Annotated[bool, typer.Option("--levels", help="Показывать уровни входа (10 раз в секунду)")]
        = False,
        industry: Annotated[str | None, typer.Option("--industry", help="Отрасль клиента для кейсов")] = None,
        pipeline: Annotated[str | None, typer.Option("--pipeline", help="Воронка (project, ...)")] = None,
        store: Annotated[bool, typer.Option("--store/--no-store", help="Записать звонок в базу звонков")] = True,
    ) -> None:
        """Проиграть звонок через живой движок: события по мере появления, затем итог."""
        from assist.call_store import CallStore, CallStoreError
        from assist.session import CallSession
        from assist.sources import CallSource, TranscriptReplay, WavCall
        from assist.transcript import TranscriptError
        from knowledge.engine import KnowledgeBase
        from knowledge.settings import load_settings

        settings = load_settings()
        rate = speed or None
        source: CallSource
        try:
            if call.suffix.lower() == ".jsonl":
                source = TranscriptReplay(call, rate)
            else:  # WavError / SpeechModelError: one line, exit 1 (desktop.cli.main); the file is checked first
                from assist.vosk_models import resolve_model

                wav = WavCall(call, client, model=None, speed=rate)
                wav.model = resolve_model(str(model) if model is not None else settings.speech.model)
                source = wav
            calls = CallStore() if store else None
        except (TranscriptError, CallStoreError) as exc:
            err.print(f"[bold red]Ошибка:[/] {exc}", soft_wrap=True)
            raise typer.Exit(1) from exc
        kb = KnowledgeBase(settings)
        events: queue.Queue[Event | None] = queue.Queue()
        session = CallSession(kb, source, store=calls, listeners=[events.put], industry=industry, pipeline=pipeline)
        with err.status("Готовлю плейбук…") if not as_json and err.is_terminal else nullcontext():
            session.start()
            first = events.get()
        ended: CallEnded | None = None
        try:
            event: Event | None = first
            while event is not None:
                if isinstance(event, CallEnded):
                    ended = event
                _print(event, as_json, partials, levels)
                event = None if ended is not None else events.get()
        except KeyboardInterrupt:
            session.stop()
            session.wait(10)
            while not events.empty():
                item = events.get()
                if item is not None:
                    _print(item, as_json, partials, levels)
        session.wait(10)
        kb.close()
        if calls is not None:
            calls.close()
        result = session.result()
        if not as_json:
            for line in summary_lines(result):
                typer.echo(line)
            if calls is not None:
                typer.echo(f"Записан в базу звонков: {session.call_id}")
        if result.get("error"):
            err.print(f"[bold red]Ошибка:[/] {result['error']}", soft_wrap=True)
            raise typer.Exit(1)


def _print(event: Event, as_json: bool, partials: bool, levels: bool) -> None:
    if isinstance(event, Levels) and not levels:
        return
    if isinstance(event, PartialText) and not partials and not as_json:
        return
    if as_json:
        typer.echo(json.dumps(event.to_json(), ensure_ascii=False))
        return
    line = describe(event)
    if line is None:
        return
    if isinstance(event, ChannelProblem | SourceProblem):
        err.print(f"[yellow]{line}[/]", soft_wrap=True)
    else:
        typer.echo(line)
