"""Contact name, company and city: what the client says about himself, not the manager's own details."""

from __future__ import annotations

import pytest

from assist.extract.names import city, company, contact_name, manager_side, own_company_named
from assist.transcript import Utterance


def talk(*turns: tuple[str, str]) -> list[Utterance]:
    return [Utterance(i, speaker, float(i * 5), float(i * 5 + 4), text) for i, (speaker, text) in enumerate(turns)]


def name_of(turns: list[Utterance]) -> str | None:
    found = contact_name(turns, manager_side(turns))
    return found.value if found else None


def test_self_introduction_with_surname() -> None:
    turns = talk(("manager", "торговый дом мегастрой здравствуйте меня зовут кирилл"),
                 ("client", "здравствуйте меня зовут наталья сергеевна кузнецова мы из самары"))
    assert name_of(turns) == "Наталья Кузнецова"
    assert city(turns) is not None and city(turns).value == "Самара"  # type: ignore[union-attr]


def test_addressed_by_manager_and_surname_from_client() -> None:
    turns = talk(("manager", "добрый день григорий меня зовут анна компания сфера"),
                 ("client", "да это попов слушаю"))
    assert name_of(turns) == "Григорий Попов"


def test_manager_name_and_third_parties_are_not_the_client() -> None:
    turns = talk(("manager", "компания вектор здравствуйте меня зовут ирина"),
                 ("client", "ирина добрый день мне ваш номер дал михаил из альфа строя"),
                 ("manager", "как к вам обращаться"),
                 ("client", "ольга"))
    assert name_of(turns) == "Ольга"


def test_surname_first_answer() -> None:
    turns = talk(("manager", "продиктуйте как к вам обращаться и номер"),
                 ("client", "белова анна восемь девятьсот"))
    assert name_of(turns) == "Анна Белова"


def test_no_name_said() -> None:
    turns = talk(("manager", "добрый день слушаю вас"), ("client", "сколько стоит доставка до склада"))
    assert name_of(turns) is None


def company_of(turns: list[Utterance]) -> str | None:
    found = company(turns, manager_side(turns))
    return found.value if found else None


def test_company_after_organisation_word_not_managers_own() -> None:
    turns = talk(("manager", "компания теплосервис добрый день меня зовут олег"),
                 ("client", "здравствуйте я закупщик компании агромаш нам нужны насосы"))
    assert company_of(turns) == "Агромаш"


def test_company_in_oblique_case_is_lemmatized() -> None:
    turns = talk(("manager", "добрый день меня зовут олег компания теплосервис"),
                 ("client", "у нас в металлпрокате три цеха"))
    assert company_of(turns) is not None and company_of(turns).lower() == "металлпрокат"  # type: ignore[union-attr]


def test_no_company() -> None:
    turns = talk(("manager", "салон мебели уют здравствуйте"), ("client", "хочу диван посмотреть для дома"))
    assert company_of(turns) is None


def test_city_weighing() -> None:
    plan = talk(("client", "мы хотим выйти на казань в следующем году"))
    assert city(plan) is None
    own_branch = talk(("manager", "в казани у нас свой склад"))
    assert city(own_branch) is None
    visit = talk(("manager", "я могу приехать к вам в нижний новгород в четверг"))
    assert city(visit) is not None and city(visit).value == "Нижний Новгород"  # type: ignore[union-attr]
    located = talk(("client", "наш офис в ростове на дону а склад в батайске"))
    assert city(located) is not None and city(located).value == "Ростов-на-Дону"  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "company"), [
    ("стальпром добрый день слушаю вас", "стальпром"),  # an inbound call is answered with the company
    ("добрый день меня зовут анна компания теплострой", "теплострой"),
    ("здравствуйте это олег из стройресурса удобно говорить", "стройресурса"),
    ("марина добрый день меня зовут олег", None),  # an outbound call opens with the client's name
    ("алло здравствуйте слушаю", None),
    ("меня зовут олег из москвы", None),
])
def test_manager_names_his_own_company_in_the_opening_turn(text: str, company: str | None) -> None:
    assert own_company_named(text) == company
