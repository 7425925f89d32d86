"""Russian text analysis for search and detection: tokens, lemmas, stop words.

pymorphy3 (the maintained fork of pymorphy2, with its own dictionaries) gives lemmas; it guesses
unknown words too, which matters for recognizer output. Spoken-style text is handled the same as
typed text: everything is lower-cased, "ё" folded to "е", punctuation ignored, and negation is
kept as a feature ("не нужно" yields ``не_нужный`` besides ``нужный``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import pymorphy3

_WORD = re.compile(r"[0-9a-zа-я\uac00-\ud7a3]+(?:-[0-9a-zа-я\uac00-\ud7a3]+)*")  # Hangul: the Korean test model
_NEGATIONS = frozenset({"не", "ни", "нет"})

# Function words, pronouns and fillers of speech. Words that carry a sales meaning stay searchable
# even if general-purpose lists drop them: "нет", "сейчас", "сколько", "когда", "дорого", "позже".
STOP_WORDS = frozenset(
    """
    а алло ах ага бы был была были было быть в вам вас ваш ваша ваше ваши весь вообще во вот вы
    где да даже для до его ее ей ему если есть еще ж же за здесь и из или им их к как какая какие
    каким какой ко когдато кто ли либо ль мне меня мной мы на над наш наша наше наши не него нее
    ней нем ни нибудь них но ну о об один однако он она они оно от очень по под при про с сам
    сама сами само свой себе себя со так также такой там те тем то тобой тогда того тоже той том
    ту ты у уж уже хотя чем через что чтобы чье чья эта эти это этот этим этой этом я типа
    короче значит слушать слушаю понятно хорошо ладно угу мм эм ээ аа ой
    """.split()
)

# Words that mostly frame a new hire's question ("что ответить, если клиент говорит ...") rather
# than its subject. Dropped from queries only, and only when something else is left.
QUERY_FRAME_WORDS = frozenset(
    """
    клиент клиентка собеседник говорить сказать ответить отвечать отработать отрабатывать
    возражение делать сделать вести поступить реагировать правильно быть если что как
    """.split()
)

_morph: pymorphy3.MorphAnalyzer | None = None


def analyzer() -> pymorphy3.MorphAnalyzer:
    """The process's one pymorphy3 analyzer (its dictionaries take tens of MB)."""
    global _morph
    if _morph is None:
        _morph = pymorphy3.MorphAnalyzer()
    return _morph


def normalize(text: str) -> str:
    return text.lower().replace("ё", "е")


def tokenize(text: str) -> list[str]:
    """Words of the text, lower case, "ё" folded, punctuation and spacing ignored."""
    return _WORD.findall(normalize(text))


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    """Dictionary form; adverbs and predicatives made from adjectives share the adjective's lemma
    ("дорого", "дорогое" -> "дорогой"; "нужно", "нужна" -> "нужный"), as speakers use them alike."""
    if not word or word[0].isdigit() or not ("а" <= word[0] <= "я"):
        return word
    parse = analyzer().parse(word)[0]
    if parse.tag.POS in ("ADVB", "PRED") and word.endswith("о") and len(word) > 3:
        adjective = _adjective_of(word[:-1])
        if adjective:
            return adjective
    return str(parse.normal_form).replace("ё", "е")


def _adjective_of(stem: str) -> str | None:
    for ending in ("ый", "ой", "ий"):
        candidate = stem + ending
        if not analyzer().word_is_known(candidate):
            continue
        for parse in analyzer().parse(candidate):
            if parse.tag.POS == "ADJF" and parse.normal_form == candidate:
                return candidate.replace("ё", "е")
    return None


@lru_cache(maxsize=100_000)
def verb_tense(word: str) -> str | None:
    """"past", "futr", "pres" or "impr" for a verb form ("подумал" → past, "подумаю" → futr), else None."""
    tag = analyzer().parse(word)[0].tag
    if "VERB" not in tag and "INFN" not in tag:
        return None
    return next((t for t in ("past", "futr", "pres", "impr") if t in tag), None)


def without_negation(text: str) -> str | None:
    """The phrase with its "не" removed ("решаю не я" → "решаю я"), or None when it has none."""
    words = tokenize(text)
    kept = [w for w in words if w != "не"]
    return " ".join(kept) if len(kept) < len(words) and kept else None


def promise_as_done(text: str) -> str | None:
    """A first-person promise told as done ("я подумаю" → "я подумал"), or None when there is no
    first-person future verb. "Я подумал и решил" is a decision, "я подумаю" is a stall."""
    out, changed = [], False
    for word in tokenize(text):
        parse = analyzer().parse(word)[0]
        if "VERB" in parse.tag and "futr" in parse.tag and "1per" in parse.tag:
            number = "plur" if "plur" in parse.tag else "sing"
            form = parse.inflect({"past", number} | ({"masc"} if number == "sing" else set()))
            if form is not None:
                out.append(form.word)
                changed = True
                continue
        out.append(word)
    return " ".join(out) if changed else None


@lru_cache(maxsize=200_000)
def is_known(word: str) -> bool:
    """Whether the dictionary knows the word (unknown words may be recognition slips)."""
    return bool(analyzer().word_is_known(word))


def lemmas(text: str, *, keep_stop_words: bool = False) -> list[str]:
    """Content lemmas in order; a negation is glued to the next content word as ``не_<lemma>``."""
    out: list[str] = []
    negate = False
    for word in tokenize(text):
        if word in _NEGATIONS:
            negate = True
            if keep_stop_words:
                out.append(word)
            continue
        lem = lemma(word)
        if not keep_stop_words and (word in STOP_WORDS or lem in STOP_WORDS):
            continue
        out.append(lem)
        if negate:
            out.append(f"не_{lem}")
            negate = False
    if negate:  # "решаю не я": a negation with no content word after it negates the one before
        last = next((w for w in reversed(out) if "_" not in w and w not in _NEGATIONS), None)
        if last:
            out.append(f"не_{last}")
    return out


def query_lemmas(text: str) -> list[str]:
    """Lemmas of a search query, with question framing removed when the subject remains."""
    all_lemmas = lemmas(text)
    subject = [lem for lem in all_lemmas if lem not in QUERY_FRAME_WORDS]
    return subject or all_lemmas


def content_words(texts: Iterable[str]) -> set[str]:
    return {lem for text in texts for lem in lemmas(text)}
