"""Dates resolved against the call's start, including weekdays and month ends."""

from __future__ import annotations

from datetime import date

import pytest

from assist.extract.dates import add_months, find_dates, next_contact, next_weekday, resolve
from assist.transcript import Utterance

WED = date(2026, 11, 25)  # a Wednesday


@pytest.mark.parametrize(("text", "expected"), [
    ("давайте созвонимся через две недели", date(2026, 12, 9)),
    ("наберу через неделю", date(2026, 12, 2)),
    ("через три дня пришлю", date(2026, 11, 28)),
    ("через месяц вернемся", date(2026, 12, 25)),
    ("во вторник в десять", date(2026, 12, 1)),
    ("в среду", date(2026, 12, 2)),  # said on a Wednesday: next week's
    ("в эту пятницу", date(2026, 11, 27)),
    ("в следующую пятницу после обеда", date(2026, 11, 27)),
    ("на следующей неделе в понедельник", date(2026, 11, 30)),
    ("двадцатого декабря", date(2026, 12, 20)),
    ("пятого января", date(2027, 1, 5)),  # the next such day: next year
    ("двадцать восьмое число", date(2026, 11, 28)),
    ("третьего числа", date(2026, 12, 3)),  # already past this month
    ("завтра утром", date(2026, 11, 26)),
    ("послезавтра", date(2026, 11, 27)),
    ("после праздников двенадцатого января созвонимся", date(2027, 1, 12)),
    ("второго декабря в среду", date(2026, 12, 2)),
])
def test_resolve(text: str, expected: date) -> None:
    assert resolve(text, WED) == expected


@pytest.mark.parametrize("text", [
    "после праздников созвонимся", "давайте в январе", "старый станок восемнадцатого года",
    "месяц назад отправили", "в прошлый вторник", "третий этаж обставляли",
])
def test_no_fixed_day(text: str) -> None:
    assert resolve(text, WED) is None


def test_month_end_edges() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 12, 15), 2) == date(2027, 2, 15)
    assert resolve("через месяц", date(2026, 10, 31)) == date(2026, 11, 30)
    assert resolve("тридцать первого", date(2026, 11, 5)) is None  # November has 30 days, no month said
    assert resolve("тридцать первого числа", date(2026, 11, 5)) == date(2026, 12, 31)
    assert resolve("двадцать девятого февраля", date(2026, 11, 5)) == date(2028, 2, 29)


def test_weekday_rollover() -> None:
    sunday = date(2026, 11, 29)
    assert next_weekday(sunday, 0) == date(2026, 11, 30)
    assert next_weekday(sunday, 6) == date(2026, 12, 6)
    assert resolve("в понедельник", date(2026, 12, 28)) == date(2027, 1, 4)


def test_deadlines_and_periods() -> None:
    found = find_dates("нам надо запустить до марта а лучше к концу первого квартала", WED)
    assert [(m.value, m.fixed, m.deadline) for m in found] == [
        (date(2027, 3, 1), False, True), (date(2027, 3, 31), False, True)]
    to_tenth = find_dates("переезжаем пятнадцатого января так что к десятому надо собрать", WED)
    assert [(m.value, m.deadline) for m in to_tenth] == [(date(2027, 1, 15), False), (date(2027, 1, 10), True)]


def u(i: int, speaker: str, text: str) -> Utterance:
    return Utterance(i, speaker, float(i), float(i) + 1, text)


def test_next_contact_skips_rejected_days_and_deadlines() -> None:
    talk = [
        u(0, "client", "нам к пятнице нужно все привезти"),
        u(1, "manager", "могу подъехать в понедельник"),
        u(2, "client", "в понедельник не получится я в командировке"),
        u(3, "manager", "тогда во вторник в одиннадцать удобно"),
        u(4, "client", "во вторник давайте"),
        u(5, "manager", "отлично сегодня пришлю договор до встречи"),
    ]
    found = next_contact(talk, WED)
    assert found is not None and found.value == "2026-12-01" and found.utterance == 4
    assert next_contact(talk[:3], WED) is None
