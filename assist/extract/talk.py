"""How the call went as talk: the manager's share of talk time, the longest monologue, and the moment
the client's interest dropped (shorter answers, longer silences before them, negative turns), if it did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from statistics import mean
from typing import Any

from assist.extract.emails import find_emails
from assist.extract.phones import find_phones
from assist.extract.text import tokens
from assist.transcript import Utterance

_NEGATIVE = re.compile(r"\b(нет|не нужно|не надо|не интересно|неинтересно|не стоит|некогда|дорого|не будем|"
                       r"не знаю|не уверен|сомнева|все спасибо|не поведусь|не устраивает|никуда не|"
                       r"не вижу смысла|смысла (\w+ ){0,2}не вижу|вряд ли|ни к чему)")
_POLITE = frozenset("да до свидания всего доброго спасибо и вам хорошего дня пока давай угу ага ладно хорошо".split())


def talk_ratio_manager(utterances: list[Utterance]) -> float | None:
    """The manager's share of the time anyone speaks (overlaps counted for both), None for a silent call."""
    manager = sum(u.end - u.start for u in utterances if u.speaker == "manager")
    total = sum(u.end - u.start for u in utterances)
    if total <= 0:
        return None
    return round(manager / total, 2)


def longest_monologue(utterances: list[Utterance]) -> dict[str, Any] | None:
    """The longest stretch one side spoke without the other: consecutive turns of one speaker."""
    best: dict[str, Any] | None = None
    run: list[Utterance] = []
    for u in [*utterances, None]:
        if u is not None and run and u.speaker == run[-1].speaker:
            run.append(u)
            continue
        if run:
            seconds = run[-1].end - run[0].start
            if best is None or seconds > best["seconds"]:
                best = {"speaker": run[0].speaker, "start": run[0].start, "end": run[-1].end,
                        "seconds": round(seconds, 1), "utterances": [x.index for x in run]}
        run = [u] if u is not None else []
    return best


@dataclass(frozen=True)
class _Turn:
    utterance: Utterance
    words: int
    pause: float  # silence before the answer, seconds
    negative: bool
    engaged: bool  # a question or an acceptance: the client still wants something from the call


# The client still takes part: asks ("а сколько", "когда сможете"), accepts a step ("давайте", "присылайте");
# "давайте не будем" refuses and "давайте всего доброго" takes leave.
_ENGAGED = re.compile(r"\b(сколько|какой|какая|какие|какую|каким|когда|где|почему|зачем|можно ли|а если|а как|"
                      r"можно|давайте(?! (не|всего|до свидания|пока|досвидания)\b)|договорились|подходит|удобно|"
                      r"присылайте|пришлите|скиньте|отправьте|запишите|"
                      r"интересно|согласен|согласна|оформля\w*|беру|берем)\b")


def _client_turns(utterances: list[Utterance]) -> list[_Turn]:
    turns: list[_Turn] = []
    previous: Utterance | None = None
    for u in utterances:
        if u.speaker == "client":
            words = tokens(u.text)
            if words and not all(w in _POLITE for w in words):
                pause = max(0.0, u.start - previous.end) if previous is not None and previous.speaker == "manager" \
                    else 0.0
                joined = " ".join(words)
                negative = bool(_NEGATIVE.search(joined))
                # asking, accepting, or handing over a phone or an e-mail is taking part
                engaged = bool(_ENGAGED.search(joined)) or bool(find_phones(u.text)) or bool(find_emails(u.text))
                turns.append(_Turn(u, len(words), pause, negative, engaged))
        previous = u
    return turns


def interest_drop(utterances: list[Utterance], outcome: str | None = None) -> dict[str, Any] | None:
    """The client turn from which the client's interest fell away for good, or None if it held.

    A turn k (not the first: interest must have been there) is the drop when the client does not
    come back after it: no later turn asks anything or accepts a step. And the turns from k on are
    colder than those before: k is negative ("нет", "не нужно", "дорого") and most of them are
    negative or at most 60 % as long as the answers before; or, with no negative words, they are
    at most 60 % as long and come after silences longer by more than 0.4 s. The earliest such turn
    wins. An objection the client then talks through ("дорого" ... "а рассрочка есть?") is no drop,
    and neither is any call that ends in an order or an agreed next step (``outcome``).
    """
    if outcome in ("won", "next_step_agreed"):
        return None
    turns = _client_turns(utterances)
    if len(turns) < 3:
        return None
    for k in range(1, len(turns)):
        before, after = turns[:k], turns[k:]
        if any(t.engaged for t in after):
            continue  # the client still asks or agrees later on: interest did not drop here
        words_before, words_after = mean(t.words for t in before), mean(t.words for t in after)
        negative_share = sum(t.negative for t in after) / len(after)
        cold_share = sum(t.negative or t.words <= 0.6 * words_before for t in after) / len(after)
        pause_rise = mean(t.pause for t in after) - mean(t.pause for t in before)
        shorter = words_after <= 0.6 * words_before
        if turns[k].negative:
            if cold_share < 0.5:
                continue
        elif not (shorter and pause_rise > 0.4):
            continue
        reasons = []
        if shorter:
            reasons.append(f"ответы короче: {words_after:.0f} слов против {words_before:.0f}")
        if negative_share >= 0.5 or turns[k].negative:
            reasons.append("отрицательные ответы")
        if pause_rise > 0.4:
            reasons.append(f"паузы длиннее на {pause_rise:.1f} с")
        reasons.append("дальше клиент ничего не спрашивает и ни на что не соглашается")
        u = turns[k].utterance
        return {"utterance": u.index, "at": u.start, "text": u.text, "reasons": reasons,
                "confidence": round(min(0.9, 0.4 + 0.15 * (len(reasons) - 1) + 0.2 * negative_share), 2)}
    return None
