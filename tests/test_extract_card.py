"""build_card on small synthetic calls: every field, its evidence, and nulls where the call says nothing."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest

from assist.extract.budget import budget
from assist.extract.talk import interest_drop, longest_monologue, talk_ratio_manager
from assist.transcript import Transcript, Utterance
from assist.wrapup import CARD_FIELDS, build_card

START = datetime.fromisoformat("2026-12-03T10:00:00+03:00")  # a Thursday


def make(turns: list[tuple[str, float, float, str]], direction: str = "inbound") -> Transcript:
    utterances = [Utterance(i, s, a, b, t) for i, (s, a, b, t) in enumerate(turns)]
    return Transcript(Path("synthetic.jsonl"), "syn-1", START, direction, utterances)


CALL = [
    ("manager", 0.0, 3.0, "компания теплодом здравствуйте меня зовут сергей"),
    ("client", 3.5, 9.0, "добрый день меня зовут павел андреевич гусев я главный инженер завода ростсталь из липецка"),
    ("manager", 9.5, 14.0, "павел андреевич очень приятно откуда о нас узнали"),
    ("client", 14.5, 17.0, "коллеги с другого завода порекомендовали"),
    ("manager", 17.5, 22.0, "понял а какой бюджет на котельную правильно понимаю пятьсот тысяч"),
    ("client", 22.5, 26.0, "нет не пятьсот а семьсот заложено"),
    ("client", 26.2, 31.0, "но решение принимает генеральный директор я только готовлю предложение"),
    ("manager", 31.5, 38.0, "хорошо а сроки какие"),
    ("client", 38.5, 42.0, "котельная нужна к отопительному сезону до октября"),
    ("manager", 42.5, 50.0, "тогда предлагаю встречу с расчетом окупаемости через две недели в четверг удобно"),
    ("client", 50.5, 53.0, "да давайте запишите почту гусев собака ростсталь точка ру"),
    ("client", 53.2, 58.0, "и телефон восемь девятьсот шесть двести ноль один ноль два ноль три"),
    ("manager", 58.5, 61.0, "записал до встречи павел андреевич"),
    ("client", 61.5, 62.5, "до свидания"),
]


def test_full_card() -> None:
    card = build_card(make(CALL), ["need_proof", "price_question", "not_decision_maker", "need_proof"], 0.8)
    assert set(CARD_FIELDS) <= set(card)
    assert card["contact_name"] == "Павел Гусев"
    assert card["company"].lower() == "ростсталь"
    assert card["city"] == "Липецк"
    assert card["phone"] == "+79062010203"
    assert card["email"] == "gusev@roststal.ru"
    assert card["budget_rub"] == 700_000  # the client's correction wins over the manager's read-back
    assert card["next_contact_date"] == "2026-12-17"
    assert card["lead_source"] == "referral"
    assert card["decision_maker"] is False
    assert card["outcome"] == "next_step_agreed"
    assert card["refusal_reason"] is None
    assert card["urgency"] == "low"  # October, ten months away
    assert card["pipeline"] == "project"
    assert card["objections"] == ["need_proof", "not_decision_maker"]  # no signals, no repeats
    assert card["compliance"] == 0.8
    assert card["talk_ratio_manager"] == pytest.approx(0.45, abs=0.05)
    assert isinstance(card["summary"], str) and "Гусев" in card["summary"]
    assert card["evidence"]["budget_rub"]["utterance"] == 5
    assert card["evidence"]["phone"]["utterance"] == 11
    assert all(0 < e["confidence"] <= 1 for e in card["evidence"].values())
    assert set(card["evidence"]) <= set(CARD_FIELDS)


def test_quiet_call_stays_null(caplog: pytest.LogCaptureFixture) -> None:
    turns = [("manager", 0.0, 2.0, "алло добрый день"), ("client", 2.5, 3.5, "алло"),
             ("manager", 4.0, 5.0, "вас не слышно")]
    with caplog.at_level(logging.DEBUG):
        card = build_card(make(turns, "outbound"), [], 0.1)
    for field in ("contact_name", "company", "phone", "email", "city", "budget_rub", "next_contact_date",
                  "urgency", "decision_maker", "refusal_reason"):
        assert card[field] is None, field
    assert card["outcome"] == "no_contact"
    assert card["interest_drop"] is None


def test_refusal_with_reason_and_no_date() -> None:
    turns = [
        ("manager", 0.0, 6.0, "добрый день меня зовут инна компания клинсервис мы предлагаем уборку офисов"),
        ("client", 6.5, 14.0, "здравствуйте у нас уже есть клининговая компания мы с ними давно работаем и довольны"),
        ("manager", 14.5, 20.0, "понимаю а если мы предложим цену ниже и пробную уборку бесплатно"),
        ("client", 22.0, 24.0, "нет спасибо у нас свой поставщик"),
        ("manager", 24.5, 27.0, "хорошо можно я пришлю предложение"),
        ("client", 30.0, 31.0, "не надо"),
    ]
    card = build_card(make(turns, "outbound"), ["already_have_supplier"], 0.3)
    assert card["outcome"] == "refused"
    assert card["refusal_reason"] == "competitor"
    assert card["next_contact_date"] is None
    assert card["lead_source"] == "cold"
    assert card["interest_drop"] is not None and card["interest_drop"]["utterance"] == 3


def test_logs_carry_no_personal_values(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        build_card(make(CALL), [], 0.5)
    text = caplog.text
    assert "phone" in text  # field names are logged...
    assert "+7906" not in text and "gusev@" not in text and "79062010203" not in text  # ...values never


def test_talk_metrics() -> None:
    t = make(CALL)
    ratio = talk_ratio_manager(t.utterances)
    assert ratio is not None and 0 < ratio < 1
    longest = longest_monologue(t.utterances)
    assert longest is not None and longest["speaker"] == "client" and longest["utterances"] == [5, 6]
    assert interest_drop(t.utterances) is None  # the client stayed engaged to the end


def test_budget_needs_a_budget_context() -> None:
    turns = [Utterance(0, "client", 0, 1, "мы поставили оборудование на миллион восемьсот а они не платят")]
    assert budget(turns, None) is None
    asked = [Utterance(0, "manager", 0, 1, "на какую сумму ориентируетесь"),
             Utterance(1, "client", 1, 2, "ну тысяч на триста пятьдесят")]
    found = budget(asked, None)
    assert found is not None and found.value == 350_000


@pytest.mark.parametrize("opening, expected", [
    ("здравствуйте вы оставляли заявку на сайте на расчет вентиляции", "inbound"),
    ("добрый день звоню по вашей заявке на обучение сотрудников", "inbound"),
    ("добрый день я представляю компанию климат плюс мы занимаемся вентиляцией", "cold"),
])
def test_an_outbound_call_back_on_a_request_is_an_inbound_lead(opening: str, expected: str) -> None:
    call = make([("manager", 0.0, 4.0, opening), ("client", 4.5, 6.0, "да слушаю вас говорите"),
                 ("manager", 6.5, 9.0, "подскажите сколько у вас сотрудников"),
                 ("client", 9.5, 12.0, "человек сорок в офисе")], direction="outbound")
    assert build_card(call, [], 0.5)["lead_source"] == expected
