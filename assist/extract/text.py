"""Shared text helpers of the extractors: tokens of recognizer output and cached morphology.

Transcripts are lower case without punctuation, so a token is a run of letters or digits. pymorphy3
gives lemmas and grammatical tags (``Name``, ``Surn``, ``Geox``, ``NUMR``, ``Anum``) and guesses
unknown words, which matters for company names the dictionary has never seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from knowledge.russian import analyzer

_WORD = re.compile(r"[0-9a-zа-яё]+")

def tokens(text: str) -> list[str]:
    """Lower-case words of the text, "ё" folded to "е"."""
    return [w.replace("ё", "е") for w in _WORD.findall(text.lower())]


@dataclass(frozen=True)
class Parse:
    lemma: str
    tag: frozenset[str]  # grammemes of one analysis: {"NOUN", "Name", "sing", "nomn", ...}
    score: float


@lru_cache(maxsize=100_000)
def parses(word: str) -> tuple[Parse, ...]:
    """Every analysis pymorphy3 offers for the word, best first (lemmas with "ё" folded)."""
    if not word or not word.isalpha():
        return ()
    out = []
    for p in analyzer().parse(word):
        grammemes = frozenset(str(p.tag).replace(" ", ",").split(","))
        out.append(Parse(str(p.normal_form).replace("ё", "е"), grammemes, float(p.score)))
    return tuple(out)


@lru_cache(maxsize=100_000)
def lemma(word: str) -> str:
    found = parses(word)
    return found[0].lemma if found else word


@lru_cache(maxsize=100_000)
def is_known(word: str) -> bool:
    return bool(word.isalpha()) and bool(analyzer().word_is_known(word))


def has_tag(word: str, *grammemes: str, min_score: float = 0.0) -> bool:
    """Whether some analysis of the word carries all the grammemes (with at least that score)."""
    return any(set(grammemes) <= p.tag and p.score >= min_score for p in parses(word))


def lemmas(text: str) -> list[str]:
    return [lemma(w) for w in tokens(text)]
