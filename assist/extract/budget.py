"""The client's budget in roubles, from spoken amounts said as a budget.

An amount counts when the client says it with a budget word ("заложено", "бюджет", "уложиться",
"максимум") or answers the manager's budget question with it; a client's correction ("нет не пятьсот а
семьсот") wins over what was said before, and a bare "семьсот" then keeps the scale of the value it
corrects. When the deal is closed in the call and the client named no budget, the last total the
manager quoted is the deal's sum. Prices per unit ("по пять двести за куб") and small sums are not
budgets; a sum with no budget context (a debt, a past spend) is not either. Numbers that are something
else are never read as money: the digits of a dictated phone ("восемь девятьсот семнадцать ..."),
ordinals of dates, and counts of things ("двести коробок", "сорок два внутренних блока": a number
followed by a noun that is not money). A monthly or yearly budget ("пятьсот тысяч в месяц") is a budget.
A shorthand with the scale left unsaid ("в два шестьсот уложиться") takes the scale of the sums named
in the call: next to prices in millions it is 2 600 000.
The manager's words open the client's answer to a budget only when they ask about it ("какой бюджет",
"на какую сумму рассчитываете"), not when they merely say the word ("в вашем бюджете").
"""

from __future__ import annotations

import re

from assist.extract.evidence import Found
from assist.extract.numbers import Amount, find_amounts
from assist.extract.phones import find_phones
from assist.extract.text import parses, tokens
from assist.transcript import Utterance

_CLIENT_CUE = re.compile(r"\b(бюджет\w*|заложен\w*|заложим|заложили|заложить|уложиться|уложимся|ориентир\w*|"
                         r"рассчитыва\w*|(по)?трат(ить|им|ят|ите)\b|планир\w*|в пределах|максимум|не больше|"
                         r"думал[аи]?|выделен\w*|выделили|берем на|закупаем на|тратим)")
_MANAGER_QUESTION = re.compile(r"\b(бюджет\w*|по деньгам|какую сумму|на какую сумму|объем закупки|сколько готовы|"
                               r"ориентируетесь|правильно понимаю)")
# what makes the manager's budget words a question: an interrogative, or asking about the client's plans
_ASKING = re.compile(r"\b(как\w*|сколько|есть ли|ли|рассчитыва\w*|ориентиру\w*|планиру\w*|закладыва\w*|"
                     r"выделя\w*|готовы|правильно понимаю|по деньгам)\b")
_TOTAL = re.compile(r"\b(итого|выйдет|будет|получается|ровно|всего|общая|с доставкой|с монтажом|в сумме)")
# a price per unit of measure or per item; a month or a year is the period of a budget, not a unit
_PER_UNIT = re.compile(r"^(за|в) (куб\w*|штук\w*|метр\w*|мешок|единиц\w*|час|квадрат\w*|тонн\w*|килограмм\w*|"
                       r"кило|кг|литр\w*|паллет\w*|поддон\w*|коробк\w*|упаковк\w*|ящик|человек\w*|"
                       r"сотрудник\w*|рабоч\w+ мест\w*|мест\w*|сутки|день|смену|занятие|урок|голову|позици\w*)")
# nouns after a number that keep it money: "пятьсот тысяч рублей", "семьсот бюджет"
_MONEY_NOUNS = frozenset({"рубль", "руб", "бюджет", "сумма", "деньги", "доллар", "евро", "бакс", "итого", "всего"})
_CORRECTION = re.compile(r"\bнет\b.*\bне\b.*\bа\b")
MIN_BUDGET = 1000


def _counted(toks: list[str], end: int) -> bool:
    """Whether the number ending at ``end`` counts things: a noun (maybe after an adjective) that is
    not money follows it ("двести коробок", "сорок два внутренних блока")."""
    for k in (end, end + 1):
        if k >= len(toks):
            return False
        found = parses(toks[k])
        if not found:
            return False
        best = found[0]
        if best.lemma in _MONEY_NOUNS:
            return False
        if "NOUN" in best.tag:
            return not ({"Name", "Surn", "Patr"} & best.tag)
        if "ADJF" not in best.tag or "Apro" in best.tag:
            return False
    return False


def _usable(toks: list[str], amounts: list[Amount]) -> list[Amount]:
    phone_tokens = {i for p in find_phones(" ".join(toks)) for i in range(p.start, p.end)}
    out = []
    for a in amounts:
        after = " ".join(toks[a.end:a.end + 2])
        before = toks[a.start - 1] if a.start else ""
        if _PER_UNIT.search(after) or before == "по":
            continue
        if phone_tokens & set(range(a.start, a.end)) or _counted(toks, a.end):
            continue
        out.append(a)
    return out


def _closest(toks: list[str], amounts: list[Amount], cue: re.Pattern[str]) -> Amount | None:
    positions = [i for i, t in enumerate(toks) if cue.search(" ".join(toks[i:i + 2]))]
    big = [a for a in amounts if a.value >= MIN_BUDGET]
    if not big:
        return None
    if not positions:
        return big[0]
    return min(big, key=lambda a: min(abs(a.start - p) for p in positions))


def _call_scale(utterances: list[Utterance], amount: Amount) -> int:
    """The value of a shorthand amount ("два шестьсот") at the scale of the sums said in the call: said
    next to prices in millions ("два миллиона девятьсот сорок тысяч") it is 2 600 000, not 2 600."""
    if not amount.shorthand:
        return amount.value
    said = [a.value for u in utterances for a in find_amounts(tokens(u.text)) if not a.shorthand]
    millions = amount.value * 1000
    if any(v >= 1_000_000 and millions / 3 <= v <= millions * 3 for v in said) and \
            not any(amount.value / 3 <= v <= amount.value * 3 for v in said):
        return millions
    return amount.value


def budget(utterances: list[Utterance], won_at: int | None) -> Found | None:
    found: Found | None = None
    asked = False
    for u in utterances:
        toks = tokens(u.text)
        amounts = _usable(toks, find_amounts(toks))
        joined = " ".join(toks)
        if u.speaker == "manager":
            asked = bool(_MANAGER_QUESTION.search(joined)) and bool(_ASKING.search(joined))
            if asked and "правильно понимаю" in joined:
                a = _closest(toks, amounts, _MANAGER_QUESTION)
                if a is not None:
                    found = Found(a.value, u.index, u.text, 0.6)
            continue
        if found is not None and _CORRECTION.search(joined) and amounts:
            last = amounts[-1].value
            if last < MIN_BUDGET:
                last *= 1_000_000 if found.value >= 1_000_000 else 1000
            found = Found(last, u.index, u.text, 0.8)
            continue
        if _CLIENT_CUE.search(joined) or asked:
            a = _closest(toks, amounts, _CLIENT_CUE)
            if a is not None:
                found = Found(_call_scale(utterances, a), u.index, u.text,
                              0.85 if _CLIENT_CUE.search(joined) else 0.75)
        asked = False
    if found is not None or won_at is None:
        return found
    for u in reversed([x for x in utterances if x.speaker == "manager" and x.index <= won_at]):
        toks = tokens(u.text)
        if not _TOTAL.search(" ".join(toks)):
            continue
        amounts = [a for a in _usable(toks, find_amounts(toks)) if a.value >= MIN_BUDGET]
        if amounts:
            return Found(amounts[-1].value, u.index, u.text, 0.6)
    return None
