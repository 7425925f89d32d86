"""Call transcripts (``*.jsonl``, see the contract): a header line, then one utterance per line.

A malformed line is reported with the file and line number and skipped; the rest of the call is
kept, so one bad line never loses a call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SPEAKERS = ("manager", "client")


class TranscriptError(Exception):
    """The transcript cannot be used at all (missing file, no valid header)."""


@dataclass(frozen=True)
class Utterance:
    index: int  # 0-based among utterance lines (the header is not counted)
    speaker: str
    start: float
    end: float
    text: str


@dataclass
class Transcript:
    path: Path
    call_id: str
    started_at: datetime | None
    direction: str
    utterances: list[Utterance]
    problems: list[str] = field(default_factory=list)  # "file:line: reason" for skipped lines


def _utterance(data: object, index: int) -> Utterance:
    if not isinstance(data, dict):
        raise ValueError("ожидался объект JSON с полями speaker, start, end, text")
    speaker = data.get("speaker")
    if speaker not in SPEAKERS:
        raise ValueError(f"поле speaker: '{speaker}', ожидалось manager или client")
    try:
        start, end = float(data["start"]), float(data["end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("поля start и end должны быть числами (секунды от начала звонка)") from exc
    if end < start or start < 0:
        raise ValueError(f"время start={start} end={end} не подходит")
    text = data.get("text")
    if not isinstance(text, str):
        raise ValueError("поле text должно быть строкой")
    return Utterance(index, str(speaker), start, end, text.strip())


def read_transcript(path: Path) -> Transcript:
    try:
        raw_lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise TranscriptError(f"{path}: файл не найден") from exc
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"{path}: файл не в кодировке UTF-8") from exc
    except OSError as exc:
        raise TranscriptError(f"{path}: файл не читается: {exc.strerror}") from exc
    if not raw_lines:
        raise TranscriptError(f"{path}:1: пустой файл, ожидалась строка-заголовок звонка")
    try:
        header = json.loads(raw_lines[0])
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"{path}:1: заголовок звонка не JSON: {exc.msg}") from exc
    if not isinstance(header, dict) or "call_id" not in header:
        raise TranscriptError(f"{path}:1: в заголовке нет call_id")
    started = None
    if header.get("started_at"):
        try:
            started = datetime.fromisoformat(str(header["started_at"]))
        except ValueError as exc:
            raise TranscriptError(f"{path}:1: started_at не дата ISO 8601: {header['started_at']}") from exc
    utterances: list[Utterance] = []
    problems: list[str] = []
    index = -1
    for line_no, line in enumerate(raw_lines[1:], start=2):
        if not line.strip():
            continue
        index += 1  # a skipped bad line still counts: indices follow the file's utterance lines
        try:
            utterances.append(_utterance(json.loads(line), index))
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{line_no}: строка не JSON ({exc.msg}), пропущена")
        except ValueError as exc:
            problems.append(f"{path}:{line_no}: {exc}, строка пропущена")
    return Transcript(path, str(header["call_id"]), started, str(header.get("direction", "")), utterances,
                      problems)
