"""Phone numbers dictated in words or digits, to E.164 ("+7...").

A dictated number is a run of number groups ("восемь девятьсот пятнадцать семьсот сорок два
восемнадцать ноль три"); each group stands for its own digits (915, 742, 18, 0, 3). The run may hold
fillers ("тире", "плюс") and starts with 8, 7 ("плюс семь") or straight with the ten digits of the
national number. Google's libphonenumber (``phonenumbers``) decides which digit strings are real
Russian numbers and formats them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from assist.extract.evidence import Found
from assist.extract.numbers import NumberSpan, digits_of, find_numbers
from assist.extract.text import tokens
from assist.transcript import Utterance

_FILLERS = frozenset({"тире", "дефис", "и", "плюс", "скобка", "скобки", "код", "э", "ээ", "так"})
REGION = "RU"


@dataclass(frozen=True)
class PhoneMatch:
    e164: str
    start: int  # token indices of the dictated run
    end: int


def _runs(toks: list[str]) -> list[list[NumberSpan]]:
    runs: list[list[NumberSpan]] = []
    current: list[NumberSpan] = []
    for span in find_numbers(toks):
        usable = not span.ordinal and not span.last_scale and not span.bare_scale and span.groups
        if not usable:
            if current:
                runs.append(current)
            current = []
            continue
        if current and not all(t in _FILLERS for t in toks[current[-1].end:span.start]):
            runs.append(current)
            current = []
        current.append(span)
    if current:
        runs.append(current)
    return runs


def normalize_phone(digits: str) -> str | None:
    """E.164 for a Russian number given as digits (8XXXXXXXXXX, 7XXXXXXXXXX or XXXXXXXXXX), if valid."""
    if len(digits) == 11 and digits[0] in "78":
        candidate = "+7" + digits[1:]
    elif len(digits) == 10:
        candidate = "+7" + digits
    else:
        return None
    try:
        number = phonenumbers.parse(candidate, REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_phones(text: str) -> list[PhoneMatch]:
    """Every valid Russian phone number dictated in the text, left to right."""
    toks = tokens(text)
    found: list[PhoneMatch] = []
    for run in _runs(toks):
        pieces = [digits_of(s) for s in run]
        first = 0
        while first < len(run):
            hit = None
            digits = ""
            for last in range(first, len(run)):
                digits += pieces[last]
                if len(digits) > 11:
                    break
                if len(digits) in (10, 11):
                    e164 = normalize_phone(digits)
                    if e164 and (len(digits) == 11 or digits[0] != "8"):
                        hit = (e164, last)  # keep going: an 11-digit reading beats a 10-digit one
            if hit is not None:
                found.append(PhoneMatch(hit[0], run[first].start, run[hit[1]].end))
                first = hit[1] + 1
            else:
                first += 1
    return found


_MANAGER_REPEATS = re.compile(r"\b(ваш|правильно|записал|записала|записываю|повторю|верно)")
_MANAGER_OWN = re.compile(r"\b(мой|мои|наш|запишите|запишите мой|оставлю)")
# the client confirms a number the manager reads out ("номер прежний восемь девятьсот ..." - "да этот")
_CONFIRMED = re.compile(r"^(да|верно|правильно|точно|все верно|да да|этот|он самый)\b")


def client_phone(utterances: list[Utterance]) -> Found | None:
    """The client's number: the last one the client dictated (a correction wins), or the manager's
    read-back of the client's number; the manager's own number never."""
    found: Found | None = None
    for n, u in enumerate(utterances):
        phones = find_phones(u.text)
        if not phones:
            continue
        if u.speaker == "manager":
            joined = " ".join(tokens(u.text))
            if _MANAGER_OWN.search(joined):
                continue
            if not _MANAGER_REPEATS.search(joined):
                reply = utterances[n + 1] if n + 1 < len(utterances) else None
                if reply is None or reply.speaker != "client" or not _CONFIRMED.search(" ".join(tokens(reply.text))):
                    continue
            found = Found(phones[-1].e164, u.index, u.text, 0.7)
            continue
        found = Found(phones[-1].e164, u.index, u.text, 0.9)
    return found
