"""Spoken Russian numbers: "полтора миллиона", "пятьсот тысяч", "триста двадцать", "двадцатого".

Number words are recognised in any case form through pymorphy3 lemmas ("двенадцати", "шестисот",
"тысячу", "полутора"), then composed by the usual grammar: groups below a thousand (hundreds, tens,
units or a teen), each optionally followed by a scale word (тысяча, миллион, миллиард) in falling
order. ``parse_number`` reads a whole phrase; ``find_numbers`` finds every number in running text.

Money is said more loosely than written, so ``find_amounts`` adds the colloquial readings on top:
"миллион четыреста" = 1 400 000, "двести сорок семь двести" = 247 200, "тысяч на сто пятьдесят" =
150 000, "миллиона три" = 3 000 000, "два с половиной миллиона" = 2 500 000, "миллиона два с половиной" =
2 500 000.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from assist.extract.text import parses, tokens

UNITS = {"ноль": 0, "нуль": 0, "один": 1, "два": 2, "три": 3, "четыре": 4, "пять": 5, "шесть": 6, "семь": 7,
         "восемь": 8, "девять": 9}
TEENS = {"десять": 10, "одиннадцать": 11, "двенадцать": 12, "тринадцать": 13, "четырнадцать": 14,
         "пятнадцать": 15, "шестнадцать": 16, "семнадцать": 17, "восемнадцать": 18, "девятнадцать": 19}
TENS = {"двадцать": 20, "тридцать": 30, "сорок": 40, "пятьдесят": 50, "шестьдесят": 60, "семьдесят": 70,
        "восемьдесят": 80, "девяносто": 90}
HUNDREDS = {"сто": 100, "двести": 200, "триста": 300, "четыреста": 400, "пятьсот": 500, "шестьсот": 600,
            "семьсот": 700, "восемьсот": 800, "девятьсот": 900}
SCALES = {"тысяча": 1000, "тыща": 1000, "миллион": 1_000_000, "лям": 1_000_000, "миллиард": 1_000_000_000}
ORDINAL_UNITS = {"первый": 1, "второй": 2, "третий": 3, "четвертый": 4, "пятый": 5, "шестой": 6, "седьмой": 7,
                 "восьмой": 8, "девятый": 9}
ORDINAL_TEENS = {"десятый": 10, "одиннадцатый": 11, "двенадцатый": 12, "тринадцатый": 13, "четырнадцатый": 14,
                 "пятнадцатый": 15, "шестнадцатый": 16, "семнадцатый": 17, "восемнадцатый": 18,
                 "девятнадцатый": 19}
ORDINAL_TENS = {"двадцатый": 20, "тридцатый": 30, "сороковой": 40, "пятидесятый": 50, "шестидесятый": 60,
                "семидесятый": 70, "восьмидесятый": 80, "девяностый": 90}
ORDINAL_HUNDREDS = {"сотый": 100, "двухсотый": 200, "трехсотый": 300, "четырехсотый": 400, "пятисотый": 500,
                    "шестисотый": 600, "семисотый": 700, "восьмисотый": 800, "девятисотый": 900}
ORDINAL_SCALES = {"тысячный": 1000, "миллионный": 1_000_000,
                  **{f"{prefix}тысячный": n * 1000 for n, prefix in enumerate(
                      ("двух", "трех", "четырех", "пяти", "шести", "семи", "восьми", "девяти"), start=2)}}
HALF = "полтора"  # полтора, полторы, полутора
HALF_SCALES = {"полмиллиона": 500_000, "полтысячи": 500, "полмиллиарда": 500_000_000}
# A scale word said without a number means one of it only in these forms ("тысяча", "миллион");
# "тысяч", "миллионов", "миллиона" need a number, so alone they start an inverted amount.
_SINGULAR_SCALE_FORMS = frozenset({"тысяча", "тысячу", "тыща", "тыщу", "миллион", "миллиард", "лям"})
_INVERSION_FILLERS = frozenset({"на", "в", "за", "под", "до", "около", "где", "то", "так", "этак", "примерно",
                                "порядка", "с", "ну", "э", "от"})

_KIND_TABLES: tuple[tuple[str, dict[str, int], bool], ...] = (
    ("unit", UNITS, False), ("teen", TEENS, False), ("ten", TENS, False), ("hundred", HUNDREDS, False),
    ("scale", SCALES, False), ("unit", ORDINAL_UNITS, True), ("teen", ORDINAL_TEENS, True),
    ("ten", ORDINAL_TENS, True), ("hundred", ORDINAL_HUNDREDS, True), ("scale", ORDINAL_SCALES, True),
)


@dataclass(frozen=True)
class NumWord:
    kind: str  # unit, teen, ten, hundred, scale, half, halfscale
    value: int
    ordinal: bool = False
    case: str = ""  # the case of the best analysis: nomn, gent, datv, accs, ablt, loct


@lru_cache(maxsize=50_000)
def number_word(word: str) -> NumWord | None:
    """What a single token means as a number word, or None ("три" yes, "тереть" no)."""
    if word.isdigit():
        return NumWord("digits", int(word))
    if word in HALF_SCALES:
        return NumWord("halfscale", HALF_SCALES[word])
    for p in parses(word):
        if p.lemma == HALF and "NUMR" in p.tag:
            return NumWord("half", 0, case=_case(p.tag))
        for kind, table, ordinal in _KIND_TABLES:
            if p.lemma not in table:
                continue
            if ordinal and "ADJF" not in p.tag:
                continue
            if not ordinal and kind != "scale" and not ({"NUMR", "Anum", "NOUN"} & p.tag):
                continue
            return NumWord(kind, table[p.lemma], ordinal, _case(p.tag))
    return None


def _case(tag: frozenset[str]) -> str:
    for case in ("nomn", "gent", "datv", "accs", "ablt", "loct"):
        if case in tag:
            return case
    return ""


@dataclass(frozen=True)
class NumberSpan:
    start: int  # token index of the first word
    end: int  # token index after the last word
    value: int
    ordinal: bool = False
    last_scale: int = 0  # the smallest scale word used (0: none)
    tail: int = 0  # the group said after the last scale word ("миллион четыреста": 400)
    groups: tuple[int, ...] = ()  # groups below a thousand, as said (for dictated digits)
    bare_scale: int = 0  # a lone "тысяч"/"миллионов": the scale of an inverted amount


def _group(words: list[NumWord | None], j: int) -> tuple[int, int, bool]:
    """A group below a thousand from position j: (value, next position, ends with an ordinal)."""
    start = j
    value = 0
    w = words[j] if j < len(words) else None
    if w is not None and w.kind == "hundred":
        value += w.value
        j += 1
        if w.ordinal:
            return value, j, True
        w = words[j] if j < len(words) else None
        after = words[j + 1] if j + 1 < len(words) else None
        if (w is not None and w.kind == "unit" and w.value == 0 and after is not None and after.kind == "unit"
                and after.value > 0):
            return value + after.value, j + 2, after.ordinal  # "двести ноль четыре": 204 dictated
    if w is not None and w.kind == "teen":
        return value + w.value, j + 1, w.ordinal
    if w is not None and w.kind == "ten":
        value += w.value
        j += 1
        if w.ordinal:
            return value, j, True
        w = words[j] if j < len(words) else None
        if w is not None and w.kind == "unit" and w.value > 0:
            return value + w.value, j + 1, w.ordinal
        return value, j, False
    if w is not None and w.kind == "unit" and (w.value > 0 or j == start):
        return value + w.value, j + 1, w.ordinal
    return value, j, False


def _span_at(toks: list[str], words: list[NumWord | None], i: int) -> NumberSpan | None:
    first = words[i]
    if first is None:
        return None
    if first.kind == "digits":
        return NumberSpan(i, i + 1, first.value, groups=(first.value,))
    if first.kind == "halfscale":
        return NumberSpan(i, i + 1, first.value, last_scale=first.value)
    if first.kind == "half":
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt is not None and nxt.kind == "scale" and not nxt.ordinal:
            return NumberSpan(i, i + 2, nxt.value * 3 // 2, last_scale=nxt.value)
        return None
    if first.kind == "scale" and not first.ordinal and toks[i] not in _SINGULAR_SCALE_FORMS:
        return NumberSpan(i, i + 1, 0, bare_scale=first.value)
    total = 0
    j = i
    last_scale = 10**12
    tail = 0
    groups: list[int] = []
    ordinal = False
    while j < len(words):
        value, k, ends_ordinal = _group(words, j)
        consumed = k > j
        if consumed:
            groups.append(value)
        if ends_ordinal:
            total += value
            tail = value
            j, ordinal = k, True
            break
        w = words[k] if k < len(words) else None
        half = False
        if (consumed and k + 2 < len(words) and toks[k] == "с" and toks[k + 1].startswith("половин")
                and words[k + 2] is not None and words[k + 2].kind == "scale"):  # type: ignore[union-attr]
            half, k, w = True, k + 2, words[k + 2]
        if w is not None and w.kind == "scale" and w.value < last_scale and (consumed or j == i):
            multiplier = value if consumed else 1
            total += multiplier * w.value + (w.value // 2 if half else 0)
            last_scale = w.value
            tail = 0
            j = k + 1
            if w.ordinal:
                ordinal = True
                break
            continue
        if consumed:
            total += value
            tail = value
            j = k
        break
    if j == i:
        return None
    return NumberSpan(i, j, total, ordinal, 0 if last_scale == 10**12 else last_scale, tail, tuple(groups))


def find_numbers(toks: list[str]) -> list[NumberSpan]:
    """Every number said in the tokens, left to right, by the standard grammar."""
    words = [number_word(t) for t in toks]
    out: list[NumberSpan] = []
    i = 0
    while i < len(toks):
        span = _span_at(toks, words, i)
        if span is None:
            i += 1
            continue
        out.append(span)
        i = span.end
    return out


def parse_number(text: str) -> int | None:
    """The number a whole phrase says ("триста двадцать" -> 320), or None if it is not just a number."""
    toks = tokens(text)
    spans = find_numbers(toks)
    if (len(spans) != 1 or spans[0].start != 0 or spans[0].end != len(toks) or spans[0].bare_scale
            or spans[0].ordinal):
        return None
    return spans[0].value


def parse_ordinal(text: str) -> int | None:
    """The ordinal a whole phrase says ("двадцать первого" -> 21), or None."""
    toks = tokens(text)
    spans = find_numbers(toks)
    if len(spans) != 1 or spans[0].start != 0 or spans[0].end != len(toks) or not spans[0].ordinal:
        return None
    return spans[0].value


@dataclass(frozen=True)
class Amount:
    start: int
    end: int
    value: int
    shorthand: bool = False  # "два шестьсот": two numbers, the scale left unsaid (read as thousands)


def find_amounts(toks: list[str]) -> list[Amount]:
    """Sums of money as people say them, colloquial shortcuts included (see the module doc)."""
    spans = [s for s in find_numbers(toks) if not s.ordinal]
    out: list[Amount] = []
    k = 0
    while k < len(spans):
        s = spans[k]
        nxt = spans[k + 1] if k + 1 < len(spans) else None
        if s.bare_scale:
            # "тысяч на сто пятьдесят", "миллиона три", "миллионов в девять"
            gap = toks[s.end:nxt.start] if nxt else []
            if (nxt is not None and not nxt.last_scale and not nxt.bare_scale and 0 < nxt.value < 1000
                    and len(gap) <= 2 and all(g in _INVERSION_FILLERS for g in gap)):
                end, value = nxt.end, nxt.value * s.bare_scale
                if toks[end:end + 1] == ["с"] and end + 1 < len(toks) and toks[end + 1].startswith("половин"):
                    end, value = end + 2, value + s.bare_scale // 2  # "миллиона два с половиной"
                out.append(Amount(s.start, end, value))
                k += 2
                continue
            k += 1
            continue
        value = s.value
        if s.last_scale >= 1_000_000 and 0 < s.tail < 1000:
            value = s.value - s.tail + s.tail * (s.last_scale // 1000)  # "миллион четыреста"
        elif (not s.last_scale and 0 < s.value < 1000 and nxt is not None and nxt.start == s.end
              and not nxt.last_scale and not nxt.bare_scale and 100 <= nxt.value < 1000
              and len(nxt.groups) == 1):
            out.append(Amount(s.start, nxt.end, s.value * 1000 + nxt.value, True))  # "двести сорок семь двести"
            k += 2
            continue
        out.append(Amount(s.start, s.end, value))
        k += 1
    return out


def digits_of(span: NumberSpan) -> str:
    """The digits a dictated group sequence stands for ("девятьсот пятнадцать" -> "915")."""
    return "".join(str(g) for g in span.groups)
