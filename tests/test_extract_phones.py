"""Phones dictated in words or digits, to E.164; the client's number, never the manager's."""

from __future__ import annotations

import pytest

from assist.extract.phones import client_phone, find_phones, normalize_phone
from assist.transcript import Utterance


@pytest.mark.parametrize(("text", "e164"), [
    ("восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь", "+79161234567"),
    ("плюс семь девятьсот двадцать пять пятьсот пятьдесят пять ноль ноль одиннадцать", "+79255550011"),
    ("записывайте девятьсот три двести ноль семь восемьдесят восемь девяносто", "+79032078890"),
    ("мой номер 8 912 345 67 89 звоните", "+79123456789"),
    ("восемь тире девятьсот пять тире ноль ноль один тире двадцать два тире тридцать три", "+79050012233"),
    ("восемь четыреста девяносто пять сто двадцать три сорок пять шестьдесят семь", "+74951234567"),  # Moscow
])
def test_dictated(text: str, e164: str) -> None:
    assert [p.e164 for p in find_phones(text)] == [e164]


@pytest.mark.parametrize("text", [
    "сорок пятьдесят листов в смену",  # numbers, not a phone
    "восемь девятьсот шестнадцать сто двадцать три",  # too short
    "двести сорок семь тысяч двести рублей",
])
def test_not_a_phone(text: str) -> None:
    assert find_phones(text) == []


def test_normalize_rejects_invalid() -> None:
    assert normalize_phone("80001234567") is None
    assert normalize_phone("89161234567") == "+79161234567"


def u(i: int, speaker: str, text: str) -> Utterance:
    return Utterance(i, speaker, float(i), float(i) + 1, text)


def test_client_number_wins_and_manager_own_is_ignored() -> None:
    talk = [
        u(0, "manager", "запишите мой номер восемь девятьсот двадцать семь триста восемьдесят один пятьдесят ноль два"),
        u(1, "client", "а мой восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь"),
        u(2, "client", "ой нет последние шестьдесят восемь восемь девятьсот шестнадцать сто двадцать три сорок пять "
                       "шестьдесят восемь"),
    ]
    found = client_phone(talk)
    assert found is not None and found.value == "+79161234568" and found.utterance == 2
    assert client_phone(talk[:1]) is None


def test_manager_read_back_counts() -> None:
    talk = [u(0, "manager", "записал ваш номер восемь девятьсот шестнадцать сто двадцать три "
                            "сорок пять шестьдесят семь правильно")]
    found = client_phone(talk)
    assert found is not None and found.value == "+79161234567"

