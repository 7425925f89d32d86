"""E-mail addresses dictated aloud."""

from __future__ import annotations

import pytest

from assist.extract.emails import client_email, find_emails, transliterate
from assist.transcript import Utterance


@pytest.mark.parametrize(("text", "address"), [
    ("пишите на иванов собака яндекс точка ру", "ivanov@yandex.ru"),
    ("почта сидоренко тире ольга собака гмейл точка ком", "sidorenko-olga@gmail.com"),
    ("адрес инфо собака стройтех точка рф", "info@stroytekh.рф"),
    ("это петров нижнее подчеркивание сорок два собака мейл точка ру", "petrov_42@mail.ru"),
    ("запишите ольга точка кузнецова собака компания точка ру", "olga.kuznetsova@kompaniya.ru"),
    ("почта офис плюс слитно собака рамблер точка ру", "officeplus@rambler.ru"),
    ("отправьте на почту пожалуйста", None),
])
def test_dictated(text: str, address: str | None) -> None:
    found = [e.address for e in find_emails(text)]
    assert found == ([address] if address else [])


def test_transliteration() -> None:
    assert transliterate("щукин") == "shchukin"
    assert transliterate("мейл") == "mail"
    assert transliterate("яковлев") == "yakovlev"


def test_manager_own_address_is_not_the_clients() -> None:
    talk = [Utterance(0, "manager", 0, 1, "пишите на нашу почту продажи собака фирма точка ру"),
            Utterance(1, "client", 1, 2, "а моя орлов собака мейл точка ру")]
    found = client_email(talk)
    assert found is not None and found.value == "orlov@mail.ru" and found.utterance == 1
    assert client_email(talk[:1]) is None
