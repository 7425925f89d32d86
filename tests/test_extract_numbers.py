"""Spoken Russian numbers: the grammar, case forms, colloquial sums, and a round trip through num2words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from num2words import num2words

from assist.extract.numbers import find_amounts, parse_number, parse_ordinal
from assist.extract.text import tokens


@pytest.mark.parametrize(("text", "value"), [
    ("полтора миллиона", 1_500_000),
    ("пятьсот тысяч", 500_000),
    ("триста двадцать", 320),
    ("ноль", 0),
    ("двенадцати миллионов", 12_000_000),  # genitive
    ("четырьмястами пятьюдесятью", 450),  # instrumental
    ("тысячу", 1000),
    ("полторы тысячи", 1500),
    ("сорока двух тысяч", 42_000),
    ("два миллиарда триста миллионов", 2_300_000_000),
    ("одна тысяча девятьсот девяносто девять", 1999),
])
def test_parse_number(text: str, value: int) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["добрый день", "двадцатого", "три окна", "тысяч"])
def test_not_a_number(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(("text", "value"), [
    ("двадцатого", 20), ("двадцать первого", 21), ("третьему", 3), ("тридцатое", 30),
    ("две тысячи двадцать седьмого", 2027),
])
def test_parse_ordinal(text: str, value: int) -> None:
    assert parse_ordinal(text) == value


@pytest.mark.parametrize(("text", "values"), [
    ("бюджет миллион двести", [1_200_000]),
    ("выходит восемь миллионов шестисот", [8_600_000]),
    ("ну тысяч на двести пятьдесят", [250_000]),
    ("миллиона четыре где то", [4_000_000]),
    ("миллионов в семь уложимся", [7_000_000]),
    ("сто восемнадцать четыреста с доставкой", [118_400]),
    ("три с половиной миллиона", [3_500_000]),
    ("полмиллиона", [500_000]),
    ("штук тридцать сорок в месяц", [30, 40]),  # two estimates, not 30 040
    ("пять тысяч девятьсот за куб", [5900]),
])
def test_colloquial_amounts(text: str, values: list[int]) -> None:
    assert [a.value for a in find_amounts(tokens(text))] == values


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=999_999_999_999))
def test_round_trip_cardinals(n: int) -> None:
    assert parse_number(num2words(n, lang="ru")) == n


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=2100))
def test_round_trip_ordinals(n: int) -> None:
    assert parse_ordinal(num2words(n, lang="ru", to="ordinal")) == n


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=999), st.sampled_from([1000, 1_000_000]))
def test_scaled_amounts_in_a_sentence(n: int, scale: int) -> None:
    text = f"бюджет у нас {num2words(n * scale, lang='ru')} рублей"
    assert [a.value for a in find_amounts(tokens(text))] == [n * scale]
