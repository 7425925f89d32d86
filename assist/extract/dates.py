"""Dates said in a call, resolved against the call's start: "через две недели", "во вторник",
"в следующую пятницу", "двадцатого декабря", "завтра", "до марта", "к концу квартала".

Each mention says whether it is a fixed day (a next contact can be set to it) or only a period
("в январе", "на весенний сезон"), and whether it is a deadline ("к субботе", "до марта"), which is
what urgency is measured from. A weekday means its next occurrence after the call's day ("в
следующий вторник" said on a Tuesday is a week later); "на следующей неделе в среду" is the Wednesday
of the next calendar week. A day and month without a year is the next such day from the call on; a day said alone
("двадцать пятого", "двадцать седьмого в понедельник") is the next such day of this or the next month.
"После праздников" or "после нового года" alone fix no date, so they give nothing; "до нового года" is a
deadline, the 31st of December.

dateparser was tried first: it reads neither spelled ordinals ("двадцатого декабря") nor "в
следующий вторник", and finds no dates inside running speech, so the grammar here is our own, on
pymorphy3 lemmas and the number reader of ``numbers``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from assist.extract.evidence import Found
from assist.extract.numbers import find_numbers, number_word
from assist.extract.text import has_tag, parses, tokens
from assist.transcript import Utterance

MONTHS = {"январь": 1, "февраль": 2, "март": 3, "апрель": 4, "май": 5, "июнь": 6, "июль": 7, "август": 8,
          "сентябрь": 9, "октябрь": 10, "ноябрь": 11, "декабрь": 12}
WEEKDAYS = {"понедельник": 0, "вторник": 1, "среда": 2, "четверг": 3, "пятница": 4, "суббота": 5,
            "воскресенье": 6}
SEASONS = {"весна": 3, "весенний": 3, "лето": 6, "летний": 6, "осень": 9, "осенний": 9, "зима": 12, "зимний": 12}
_SEASON_ADVERBS = {"весной": 3, "летом": 6, "осенью": 9, "зимой": 12}
_UNITS_DAYS = {"день": 1, "денек": 1, "сутки": 1, "неделя": 7, "неделька": 7}
_UNITS_MONTHS = {"месяц": 1, "месячишко": 1, "год": 12, "годик": 12}
_DEADLINE_WORDS = frozenset({"к", "ко", "до"})
_NEXT_WORDS = frozenset({"следующий", "следующая", "следующую", "следующее", "ближайший", "ближайшую",
                         "ближайшая", "будущий", "будущую", "этот", "эту", "это", "этой", "этом"})
_PREPOSITIONS = frozenset({"в", "во", "на", "к", "ко", "до", "с", "по"})
_PAST_WORDS = frozenset({"назад", "прошлый", "прошлую", "прошлой", "прошлом", "прошлая", "вчера", "позавчера"})


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    value: date
    fixed: bool  # a particular day (False: a month, a season, a quarter: only a bound)
    deadline: bool  # "к", "до", "ближе к" before it
    kind: str  # today, relative, weekday, day, month, season, period_end


def _lemma_in(word: str, table: dict[str, int]) -> int | None:
    for p in parses(word):
        if p.lemma in table:
            return table[p.lemma]
    return None


def add_months(day: date, months: int) -> date:
    """The same day so many months later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_weekday(base: date, weekday: int) -> date:
    """The next such weekday strictly after the base day."""
    ahead = (weekday - base.weekday()) % 7
    return base + timedelta(days=ahead or 7)


def _next_day_month(base: date, day: int, month: int, year: int | None = None) -> date | None:
    years = [year] if year else list(range(base.year, base.year + 8))  # 29 February may be years away
    for y in years:
        if day > calendar.monthrange(y, month)[1]:
            continue
        candidate = date(y, month, day)
        if year or candidate >= base:
            return candidate
    return None


def _next_day_of_month(base: date, day: int) -> date | None:
    """"третьего числа": this month's day if it is still ahead, else the next month that has it."""
    first = base.replace(day=1)
    for ahead in range(3):
        month_start = add_months(first, ahead)
        if day <= calendar.monthrange(month_start.year, month_start.month)[1]:
            candidate = month_start.replace(day=day)
            if candidate >= base:
                return candidate
    return None


def _day_alone(base: date, day: int) -> date | None:
    """A day said with no month ("давайте двадцать пятого"): this month's if still ahead, else the next
    month's; None when that month has no such day ("тридцать первого" in November is unclear)."""
    month_start = base.replace(day=1) if day >= base.day else add_months(base.replace(day=1), 1)
    if day > calendar.monthrange(month_start.year, month_start.month)[1]:
        return None
    return month_start.replace(day=day)


def _next_month_start(base: date, month: int) -> date:
    year = base.year if month >= base.month else base.year + 1
    return date(year, month, 1)


def _is_deadline(toks: list[str], start: int) -> bool:
    before = toks[max(0, start - 3):start]
    if before[-1:] and before[-1] in _DEADLINE_WORDS:
        return True
    if {"край", "крайний", "крайняк", "позднее"} & set(before):
        return True  # "должна лежать на объекте край в среду"
    return " ".join(before[-2:]) in ("ближе к", "не позже", "не позднее") or (
        len(before) >= 2 and before[-2] in _DEADLINE_WORDS and before[-1] in ("концу", "конца")) or (
        len(before) >= 1 and before[-1] in ("концу", "конца") and start >= 2 and toks[start - 2] in _DEADLINE_WORDS)


def find_dates(text: str, base: date) -> list[DateMention]:
    """Every date mention of the text, resolved against ``base`` (the call's day), left to right."""
    toks = tokens(text)
    out: list[DateMention] = []
    ordinals = {s.start: s for s in find_numbers(toks) if s.ordinal}
    next_week = "следующей неделе" in " ".join(toks)
    last_month: int | None = None
    i = 0
    while i < len(toks):
        t = toks[i]
        past = bool(_PAST_WORDS & set(toks[max(0, i - 2):i + 3]))
        deadline = _is_deadline(toks, i)
        # today, tomorrow
        if t in ("сегодня", "завтра", "послезавтра"):
            shift = {"сегодня": 0, "завтра": 1, "послезавтра": 2}[t]
            out.append(DateMention(i, i + 1, base + timedelta(days=shift), True, deadline, "today" if not shift
                                   else "relative"))
            i += 1
            continue
        # "через две недели", "через месяц", "через полгода"
        if t == "через" and i + 1 < len(toks):
            mention = _after(toks, i, base)
            if mention is not None:
                out.append(mention)
                i = mention.end
                continue
        # "двадцатого декабря", "двенадцатое число", "во вторник семнадцатого"
        if i in ordinals and 1 <= ordinals[i].value <= 31:
            span = ordinals[i]
            after = toks[span.end] if span.end < len(toks) else ""
            month = _lemma_in(after, MONTHS) if after else None
            word = number_word(toks[span.end - 1])
            genitive_like = word is not None and word.case in ("gent", "accs", "datv")
            if month is not None and genitive_like:
                end = span.end + 1
                year = None
                if end in ordinals and end + 1 <= len(toks) and toks[min(end + 1, len(toks) - 1)].startswith("год"):
                    year_value = ordinals[end].value
                    year = year_value if year_value > 1000 else 2000 + year_value
                    end = ordinals[end].end + 1
                value = _next_day_month(base, span.value, month, year)
                if value is not None and not past:
                    out.append(DateMention(i, end, value, True, deadline, "day"))
                last_month = month
                i = end
                continue
            prev_weekday = i > 0 and _lemma_in(toks[i - 1], WEEKDAYS) is not None
            next_weekday_said = bool(after) and _lemma_in(after, WEEKDAYS) is not None
            other_noun = (bool(after) and not after.startswith("числ") and not next_weekday_said
                          and has_tag(after, "NOUN", min_score=0.2))
            # a bare genitive ordinal ("давайте двадцать пятого созвонимся") is a day of this or the next
            # month, unless a noun it belongs to stands on either side ("пятого этажа", "дома пятого")
            owner_before = i > 0 and not prev_weekday and has_tag(toks[i - 1], "NOUN", min_score=0.5)
            if genitive_like and not other_noun and (after.startswith("числ") or last_month or prev_weekday
                                                     or not owner_before):
                said_alone = not (after.startswith("числ") or last_month or prev_weekday or next_weekday_said)
                value = (_next_day_month(base, span.value, last_month) if last_month
                         else _day_alone(base, span.value) if said_alone
                         else _next_day_of_month(base, span.value))
                if value is not None and not past:
                    if prev_weekday and out and out[-1].kind == "weekday" and out[-1].end == i:
                        out.pop()  # the day wins over its weekday
                    out.append(DateMention(i, span.end + (1 if after.startswith("числ") else 0), value, True,
                                           deadline, "day"))
                i = span.end
                continue
        # weekdays
        weekday = _lemma_in(t, WEEKDAYS) if len(t) > 3 else None
        if weekday is not None:
            before = toks[i - 1] if i else ""
            if weekday == 2 and before not in _PREPOSITIONS and before not in _NEXT_WORDS:
                weekday = None  # "среда" alone is more often the environment than Wednesday
        if weekday is not None and not past:
            if next_week:
                monday = base + timedelta(days=7 - base.weekday())
                value = monday + timedelta(days=weekday)
            else:
                value = next_weekday(base, weekday)
            nxt = ordinals.get(i + 1)
            if nxt is not None and 1 <= nxt.value <= 31:
                i += 1
                continue  # the ordinal day right after fixes the date itself
            if out and out[-1].kind == "relative" and i - out[-1].end <= 1 and out[-1].value - base >= timedelta(7):
                week_start = out[-1].value - timedelta(days=out[-1].value.weekday())
                out[-1] = DateMention(out[-1].start, i + 1, week_start + timedelta(days=weekday), True, deadline,
                                      "relative")  # "через две недели в четверг": the Thursday of that week
                i += 1
                continue
            if out and out[-1].kind == "day" and i - out[-1].end <= 1:
                i += 1
                continue  # "двенадцатого января во вторник": the weekday only confirms the day
            out.append(DateMention(i, i + 1, value, True, deadline, "weekday"))
            i += 1
            continue
        # months: "в январе", "до марта" (a bound, not a day)
        month = _lemma_in(t, MONTHS) if len(t) > 2 else None
        if month is not None and (i == 0 or toks[i - 1] in _PREPOSITIONS | {"конца", "концу", "ближе"}):
            last_month = month
            start = _next_month_start(base, month)
            if i >= 1 and toks[i - 1] in ("конца", "концу"):
                start = start.replace(day=calendar.monthrange(start.year, start.month)[1])
            out.append(DateMention(i, i + 1, start, False, deadline, "month"))
            i += 1
            continue
        # seasons and quarters: "на весенний сезон", "к лету", "к концу квартала"
        season = _SEASON_ADVERBS.get(t) or (_lemma_in(t, SEASONS) if len(t) > 3 else None)
        if season is not None and (deadline or t in _SEASON_ADVERBS or (i and toks[i - 1] in ("на", "к", "ко"))
                                   or (i + 1 < len(toks) and toks[i + 1].startswith("сезон"))):
            nxt_year = (i + 1 < len(toks) and toks[i + 1] in ("следующего", "следующем")) or (
                i + 2 < len(toks) and toks[i + 2].startswith("год") and toks[i + 1].startswith("следующ"))
            value = _next_month_start(base, season)
            if value <= base:
                value = value.replace(year=value.year + 1)
            if nxt_year and value.year == base.year:
                value = value.replace(year=value.year + 1)
            out.append(DateMention(i, i + 1, value, False, deadline, "season"))
            i += 1
            continue
        if t in ("года", "году") and i >= 1 and toks[i - 1] in ("нового", "новому") and _is_deadline(toks, i - 1):
            # "до нового года", "к новому году": the last day of the year
            out.append(DateMention(i - 1, i + 1, date(base.year, 12, 31), False, True, "period_end"))
        if t == "года" and i >= 2 and toks[i - 1] in ("конца", "концу") and _is_deadline(toks, i):
            out.append(DateMention(i, i + 1, date(base.year, 12, 31), False, True, "period_end"))
        if t in ("месяца", "недели") and i >= 2 and toks[i - 1] in ("конца", "концу") and _is_deadline(toks, i):
            last_day = (date(base.year, base.month, calendar.monthrange(base.year, base.month)[1])
                        if t == "месяца" else base + timedelta(days=6 - base.weekday()))  # "до конца месяца"
            out.append(DateMention(i, i + 1, last_day, False, True, "period_end"))
        said_quarter = i - 1 if i > 0 and i - 1 in ordinals else i
        if t.startswith("квартал") and _is_deadline(toks, said_quarter):
            quarter = (base.month - 1) // 3 + 1
            if said_quarter < i and 1 <= ordinals[said_quarter].value <= 4:
                quarter = ordinals[said_quarter].value
            year = base.year if quarter >= (base.month - 1) // 3 + 1 else base.year + 1
            last = quarter * 3
            out.append(DateMention(i, i + 1, date(year, last, calendar.monthrange(year, last)[1]), False, True,
                                   "period_end"))
        i += 1
    return out


def _after(toks: list[str], i: int, base: date) -> DateMention | None:
    """"через N <единиц>" starting at token i ("через")."""
    j = i + 1
    count: float = 1
    if toks[j] in ("пару", "пара"):
        count, j = 2, j + 1
    elif toks[j] == "полгода":
        return DateMention(i, j + 1, add_months(base, 6), True, False, "relative")
    elif toks[j] in ("полтора", "полторы"):
        count, j = 1.5, j + 1
    else:
        spans = find_numbers(toks[j:j + 4])
        if spans and spans[0].start == 0 and not spans[0].ordinal and not spans[0].last_scale:
            count, j = spans[0].value, j + spans[0].end
    if j >= len(toks):
        return None
    unit = toks[j]
    days = _lemma_in(unit, _UNITS_DAYS)
    if days is not None or unit in ("дня", "дней", "день", "недели", "недель", "неделю"):
        days = days or (7 if unit.startswith("недел") else 1)
        return DateMention(i, j + 1, base + timedelta(days=round(count * days)), True, False, "relative")
    months = _lemma_in(unit, _UNITS_MONTHS)
    if months is not None or unit in ("лет",):
        months = months or 12
        if count != int(count):
            return DateMention(i, j + 1, base + timedelta(days=round(count * months * 30)), True, False, "relative")
        return DateMention(i, j + 1, add_months(base, int(count) * months), True, False, "relative")
    return None


def resolve(text: str, base: date) -> date | None:
    """The last fixed day the text names, or None ("после праздников" alone names none)."""
    fixed = [m for m in find_dates(text, base) if m.fixed]
    return fixed[-1].value if fixed else None


_REJECT = re.compile(r"\b(поздно|рано|не могу|не получится|не подходит|не устраивает|занят|занята|не успеваю)")
_TODAY_AT = re.compile(r"\bсегодня (\w+ )?(в \w+|вечером|днем|после обеда|до обеда)")
_CONTACT = re.compile(r"\b(перезвон\w*|наберу|позвоню|созвон\w*|встреч\w*|подъед\w*|приед\w*|заед\w*)")
# sending something is not a contact: "в пятницу пришлю смс" sets no call or meeting
_SENDING = frozenset({"пришлю", "вышлю", "отправлю", "скину", "пришлем", "вышлем", "отправим", "скинем"})


def _pick(toks: list[str], mentions: list[DateMention]) -> DateMention:
    """Of several days in one utterance, the one a call or meeting is set for ("в понедельник наберу
    вам ... а во вторник машина на объекте"), else the last one not tied to sending something."""
    def near(m: DateMention, width: int = 3) -> list[str]:
        return toks[max(0, m.start - width):m.end + width]
    contact = [m for m in mentions if _CONTACT.search(" ".join(near(m)))]
    if contact and len(contact) < len(mentions):
        return contact[-1]
    plain = [m for m in mentions if not _SENDING & set(toks[m.end:m.end + 3])]
    return (plain or mentions)[-1]


def next_contact(utterances: list[Utterance], base: date) -> Found | None:
    """The next contact: the last fixed day agreed in the call (not a deadline, not a day the other side
    turned down, not "сегодня" unless a call or meeting is set for today)."""
    found: Found | None = None
    for n, u in enumerate(utterances):
        words = " ".join(tokens(u.text))
        mentions = [m for m in find_dates(u.text, base) if m.fixed and not m.deadline and m.value >= base]
        mentions = [m for m in mentions if m.kind != "today" or (_CONTACT.search(words) and _TODAY_AT.search(words))]
        if not mentions:
            continue
        if u.speaker == "client" and _REJECT.search(words):
            continue
        reply = next((x for x in utterances[n + 1:] if x.speaker != u.speaker), None)
        if reply is not None and _REJECT.search(" ".join(tokens(reply.text))):
            continue
        chosen = _pick(tokens(u.text), mentions)
        found = Found(chosen.value.isoformat(), u.index, u.text, 0.75 if _CONTACT.search(words) else 0.65)
    return found
