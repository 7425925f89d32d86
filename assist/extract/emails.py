"""E-mail addresses dictated aloud: "лебедев собака продмаркет точка ру" -> lebedev@prodmarket.ru.

Spoken signs: "собака" (@), "точка" (.), "тире"/"дефис" (-), "нижнее подчёркивание" (_). Words of the
address are written in Latin letters: common mail words by a table ("мейл" -> mail, "яндекс" ->
yandex, "ру" -> ru), spelled Latin letters by their Russian names ("эс", "кей", "дабл ю"), numbers
as digits, everything else transliterated letter by letter. Fillers such as "слитно" or
"латиницей" are dropped. The local part is read back from "собака" to the first word that cannot be
part of an address (a pronoun, a verb, "почта", ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assist.extract.evidence import Found
from assist.extract.numbers import find_numbers
from assist.extract.text import has_tag, tokens
from assist.transcript import Utterance

AT_WORDS = frozenset({"собака", "собачка", "собаку", "эт", "at"})
DOT_WORDS = frozenset({"точка", "дот"})
DASH_WORDS = frozenset({"тире", "дефис", "минус"})
UNDERSCORE_WORDS = frozenset({"подчеркивание", "подчеркиванием", "подчеркивания", "андерскор", "андерскоры"})
FILLERS = frozenset({"слитно", "латиницей", "латинскими", "английскими", "буквами", "маленькими", "все", "нижнее",
                     "через", "без", "пробелов", "пробела", "одним", "словом"})  # "одним словом" = "слитно"
CUE_WORDS = frozenset({"почта", "почту", "почты", "почте", "адрес", "адреса", "ящик", "имейл", "емейл", "емайл",
                       "мейл", "мэйл", "email", "пишите", "записывайте", "запишите", "это", "вот", "на", "та",
                       "же", "моя", "мой", "наша", "наш", "ваша", "ваш"})
KNOWN_WORDS = {
    "мейл": "mail", "мэйл": "mail", "майл": "mail", "маил": "mail", "гмейл": "gmail", "джимейл": "gmail",
    "жмейл": "gmail", "гмайл": "gmail", "яндекс": "yandex", "рамблер": "rambler", "хотмейл": "hotmail",
    "аутлук": "outlook", "инбокс": "inbox", "лист": "list", "бк": "bk", "ру": "ru", "ком": "com", "нет": "net",
    "орг": "org", "рф": "рф", "су": "su", "инфо": "info", "бай": "by", "уа": "ua", "кз": "kz", "ио": "io",
    "про": "pro", "бизнес": "biz", "биз": "biz", "онлайн": "online", "айкло": "icloud", "айклауд": "icloud",
    "ми": "me", "эдю": "edu",
    # English words in company and mail names, written the English way rather than letter by letter
    "плюс": "plus", "софт": "soft", "групп": "group", "груп": "group", "сервис": "service", "шоп": "shop",
    "тим": "team", "лайн": "line", "веб": "web", "дизайн": "design", "хаус": "house", "мастер": "master",
    "сити": "city", "трейд": "trade", "лаб": "lab", "стар": "star", "офис": "office", "смарт": "smart",
}
LETTER_NAMES = {
    "эй": "a", "бэ": "b", "би": "b", "цэ": "c", "си": "c", "дэ": "d", "ди": "d", "эф": "f", "джи": "g", "гэ": "g",
    "аш": "h", "эйч": "h", "ай": "i", "джей": "j", "жэй": "j", "ка": "k", "кей": "k", "эль": "l", "эл": "l",
    "эм": "m", "эн": "n", "пэ": "p", "пи": "p", "кью": "q", "ку": "q", "эр": "r", "ар": "r", "эс": "s", "тэ": "t",
    "ти": "t", "вэ": "v", "ви": "v", "икс": "x", "экс": "x", "игрек": "y", "уай": "y", "вай": "y", "зэд": "z",
    "зет": "z", "зед": "z",
}
_TRANSLIT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya",
}
_NOT_ADDRESS = ("NPRO", "PRCL", "CONJ", "PREP", "VERB", "INFN", "Apro", "PRED", "INTJ")


@dataclass(frozen=True)
class EmailMatch:
    address: str
    start: int
    end: int


def transliterate(word: str) -> str:
    if word in KNOWN_WORDS:
        return KNOWN_WORDS[word]
    if word in LETTER_NAMES:
        return LETTER_NAMES[word]
    out = "".join(_TRANSLIT.get(ch, ch) for ch in word)
    return out.replace("iy", "y") if out.endswith("iy") else out


def _sign(toks: list[str], i: int) -> tuple[str, int] | None:
    """A spoken sign at i: (character, tokens used)."""
    t = toks[i]
    if t in DOT_WORDS:
        return ".", 1
    if t in DASH_WORDS:
        return "-", 1
    if t in UNDERSCORE_WORDS:
        return "_", 1
    if t == "нижнее" and i + 1 < len(toks) and toks[i + 1] in UNDERSCORE_WORDS:
        return "_", 2
    return None


def _spoken_word(word: str) -> bool:
    if word in KNOWN_WORDS or word in LETTER_NAMES or word.isdigit():
        return True
    return not any(has_tag(word, tag, min_score=0.3) for tag in _NOT_ADDRESS)


def _render(toks: list[str]) -> str:
    toks = [t for n, t in enumerate(toks) if not (t == "одним" and toks[n + 1:n + 2] == ["словом"])]
    out = []
    numbers = {s.start: s for s in find_numbers(toks) if not s.ordinal and not s.bare_scale}
    i = 0
    while i < len(toks):
        if i in numbers:
            out.append("".join(str(g) for g in numbers[i].groups) if not numbers[i].last_scale
                       else str(numbers[i].value))
            i = numbers[i].end
            continue
        sign = _sign(toks, i)
        if sign:
            out.append(sign[0])
            i += sign[1]
            continue
        if toks[i] == "дабл" and i + 1 < len(toks) and toks[i + 1] in ("ю", "в", "ве"):
            out.append("w")
            i += 2
            continue
        if toks[i] not in FILLERS:
            out.append(transliterate(toks[i]))
        i += 1
    return "".join(out)


def _local_start(toks: list[str], at: int) -> int:
    i = at
    words = 0
    while i > 0:
        t = toks[i - 1]
        if t in FILLERS or _sign(toks, i - 1) is not None:
            i -= 1
            continue
        letter = len(t) == 1 and i < at and _sign(toks, i) is not None  # "а точка лазарев": the initial "a"
        if (t in CUE_WORDS or not _spoken_word(t) or words >= 6) and not letter:
            break
        words += 1
        i -= 1
    return i


def _domain_end(toks: list[str], at: int) -> int:
    """The end of the domain after "собака": a first label of up to three words, then "точка" + one word."""
    i = at + 1
    start = i
    while (i < len(toks) and i - start < 3 and toks[i] not in DOT_WORDS
           and (toks[i] in KNOWN_WORDS or toks[i] in DASH_WORDS or _spoken_word(toks[i]))):
        i += 1
    if i == start:
        return -1
    dots = 0
    while i + 1 < len(toks) and toks[i] in DOT_WORDS and (toks[i + 1] in KNOWN_WORDS or _spoken_word(toks[i + 1])):
        i += 2
        dots += 1
    return i if dots else -1


def find_emails(text: str) -> list[EmailMatch]:
    toks = tokens(text)
    found = []
    for at, t in enumerate(toks):
        if t not in AT_WORDS:
            continue
        start = _local_start(toks, at)
        end = _domain_end(toks, at)
        if start == at or end < 0:
            continue
        local = _render(toks[start:at]).strip(".-_")
        domain = _render(toks[at + 1:end]).strip(".-")
        if not local or "." not in domain or domain.endswith("."):
            continue
        found.append(EmailMatch(f"{local}@{domain}", start, end))
    return found


_MANAGER_OWN = re.compile(r"\b(мой|мою|моя|наш|нашу|наша|пишите нам)\b")


def client_email(utterances: list[Utterance]) -> Found | None:
    """The client's address: the last one dictated by the client or read back by the manager (not the
    manager's own "пишите на нашу почту")."""
    found: Found | None = None
    for u in utterances:
        emails = find_emails(u.text)
        if not emails:
            continue
        if u.speaker == "manager" and _MANAGER_OWN.search(" ".join(tokens(u.text))):
            continue
        found = Found(emails[-1].address, u.index, u.text, 0.85 if u.speaker == "client" else 0.7)
    return found
