"""General rules found with the held-out calls (benchmarks/heldout_calls): what is not a budget, days
said alone, names and companies said in other ways, refusal reasons, the next step without a date,
the interest drop; and the held-out set itself as a regression floor."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from assist.extract.budget import budget
from assist.extract.dates import find_dates, next_contact
from assist.extract.names import city
from assist.extract.numbers import find_amounts
from assist.extract.talk import interest_drop
from assist.extract.text import tokens
from assist.transcript import Transcript, Utterance, read_transcript
from assist.wrapup import build_card

HELDOUT = Path(__file__).resolve().parent.parent / "benchmarks" / "heldout_calls"
START = datetime.fromisoformat("2026-05-12T11:00:00+03:00")  # a Tuesday


def utts(*turns: tuple[str, str]) -> list[Utterance]:
    return [Utterance(i, s, i * 5.0, i * 5.0 + 4.0, t) for i, (s, t) in enumerate(turns)]


def card_of(*turns: tuple[str, str], objections: list[str] | None = None, direction: str = "inbound") -> dict:
    t = Transcript(Path("synthetic.jsonl"), "syn", START, direction, utts(*turns))
    return build_card(t, objections or [], 0.5)


def test_phone_digits_after_budget_words_are_no_budget() -> None:
    found = budget(utts(
        ("manager", "на какой бюджет вы ориентируетесь"),
        ("client", "мы готовы тратить тысяч шестьсот"),
        ("manager", "подготовлю два варианта в вашем бюджете удобно"),
        ("client", "подходит мой номер восемь девятьсот семнадцать двести три сорок пять шестьдесят семь"),
    ), None)
    assert found is not None and found.value == 600_000


@pytest.mark.parametrize("text", [
    "какой у вас бюджет а то у нас двести коробок на складе",
    "какой бюджет сорок два внутренних блока и шесть наружных",
])
def test_counts_of_things_are_no_budget(text: str) -> None:
    manager, client = text.split(" ", 3)[:3], text.split(" ", 3)[3]
    assert budget(utts(("manager", " ".join(manager)), ("client", client)), None) is None


def test_a_monthly_budget_is_a_budget_and_a_per_unit_price_is_not() -> None:
    found = budget(utts(("manager", "по двенадцать тысяч за паллету"),
                        ("client", "бюджет на перевозки около пятисот тысяч в месяц")), None)
    assert found is not None and found.value == 500_000
    assert budget(utts(("client", "бюджет такой по двенадцать тысяч за паллету")), None) is None


def test_inverted_amount_with_a_half() -> None:
    assert [a.value for a in find_amounts(tokens("миллиона два с половиной больше не потянем"))] == [2_500_000]


@pytest.mark.parametrize(("text", "expected"), [
    ("давайте двадцать пятого созвонимся", date(2026, 5, 25)),
    ("хорошо двадцать седьмого в понедельник я наберу", date(2026, 5, 27)),
    ("давайте третьего", date(2026, 6, 3)),  # already past this month: the next month's
])
def test_a_day_said_alone(text: str, expected: date) -> None:
    fixed = [m.value for m in find_dates(text, START.date()) if m.fixed]
    assert fixed == [expected]


def test_an_ordinal_of_a_thing_is_no_day() -> None:
    assert not [m for m in find_dates("мы на двадцать пятого этажа", START.date()) if m.fixed]


def test_next_contact_after_a_declined_day() -> None:
    found = next_contact(utts(("manager", "давайте созвонимся двадцать пятого числа"),
                              ("client", "двадцать пятого не могу давайте лучше двадцать седьмого"),
                              ("manager", "хорошо двадцать седьмого наберу")), START.date())
    assert found is not None and found.value == "2026-05-27"


def test_names_and_companies_said_other_ways() -> None:
    card = card_of(("manager", "агентство новый адрес добрый вечер меня зовут кирилл как к вам обращаться"),
                   ("client", "анна сергеевна коваленко мы сеть фитнес клубов атлетика"))
    assert card["contact_name"] == "Анна Коваленко"
    assert card["company"] == "Атлетика"
    card = card_of(("manager", "добрый день меня зовут евгений компания айти профи"),
                   ("client", "здравствуйте павлов сергей павлович директор ооо альфа принт"))
    assert card["contact_name"] == "Сергей Павлов"
    assert card["company"].lower() == "альфа принт"
    card = card_of(("manager", "юридическая компания правовед здравствуйте меня зовут марина"),
                   ("client", "добрый день это петров из ооо стройальянс"))
    assert card["contact_name"] == "Петров"  # a surname alone still names the contact
    assert card["company"] == "Стройальянс"


def test_brand_after_an_organisation_word_is_kept_as_said() -> None:
    card = card_of(("manager", "добрый день меня зовут дмитрий компания медсинтез"),
                   ("client", "клиника виталайн мы в самаре"))
    assert card["company"] == "Виталайн"


def test_counted_things_early_in_the_call_are_no_surname() -> None:
    card = card_of(("manager", "добрый день меня зовут олег с кем я говорю"),
                   ("client", "андрей николаевич главный инженер"),
                   ("manager", "андрей николаевич сколько у вас кондиционеров"),
                   ("client", "сорок два внутренних блока"), direction="outbound")
    assert card["contact_name"] == "Андрей"


def test_consulting_the_husband_is_no_referral() -> None:
    card = card_of(("client", "я увидела ваше объявление на авито"),
                   ("client", "мне нужно посоветоваться с мужем"))
    assert card["lead_source"] == "marketplace"
    assert card["decision_maker"] is False


def test_a_specific_reason_beats_a_bare_no_need() -> None:
    card = card_of(("manager", "добрый день компания аэроклимат мы обслуживаем кондиционеры"),
                   ("client", "у нас уже есть подрядчик нас все устраивает"),
                   ("manager", "может сравните по цене"),
                   ("client", "нет спасибо не нужно"), direction="outbound")
    assert card["outcome"] == "refused"
    assert card["refusal_reason"] == "competitor"


def test_a_next_step_without_a_date() -> None:
    card = card_of(("client", "решение по закупке принимаю я пришлите смету"),
                   ("manager", "пришлю смету и в начале следующего месяца созвонимся"),
                   ("client", "хорошо"))
    assert card["next_contact_date"] is None
    assert card["outcome"] == "next_step_agreed"
    assert card["decision_maker"] is True


def test_interest_drop_in_a_refusal_and_none_when_the_client_comes_back() -> None:
    refused = utts(
        ("manager", "мы возим сборные грузы ежедневные отправки"),
        ("client", "ну я логист слушаю"),
        ("manager", "как вы сейчас отправляете"),
        ("client", "у нас договор с одной компанией уже лет пять работаем"),
        ("manager", "какие направления"),
        ("client", "из пензы в екатеринбург и самару в месяц кубов сто двадцать в среднем"),
        ("manager", "у нас свои терминалы и страхование"),
        ("client", "ну нет у них нам дают дешевле мы от них никуда не уйдем"),
        ("manager", "а страховка у них входит"),
        ("client", "входит не входит так что нет спасибо"),
        ("manager", "можно я оставлю свой номер"),
        ("client", "оставляйте"),
    )
    drop = interest_drop(refused, "refused")
    assert drop is not None and drop["utterance"] == 7
    recovered = [*refused[:8], Utterance(8, "client", 40.0, 44.0, "а если по цене договоримся сколько выйдет")]
    assert interest_drop(recovered) is None
    assert interest_drop(refused, "next_step_agreed") is None


def _norm(value: object) -> object:
    return " ".join(value.replace("ё", "е").lower().split()) if isinstance(value, str) else value


# The held-out calls rules may be fitted to; ho-25 and later are the untouched check, left out here.
FITTED_CALLS = [f"ho-{n:02d}" for n in range(1, 25)]


def test_heldout_calls_floor() -> None:
    fields = ["contact_name", "company", "phone", "email", "city", "budget_rub", "next_contact_date", "pipeline",
              "lead_source", "urgency", "decision_maker", "outcome", "refusal_reason"]
    right = total = 0
    for labels_path in [HELDOUT / f"{call}.labels.json" for call in FITTED_CALLS]:
        labels = json.loads(labels_path.read_text(encoding="utf-8"))
        transcript = read_transcript(labels_path.with_name(labels_path.name.replace(".labels.json", ".jsonl")))
        card = build_card(transcript, [h["category"] for h in labels["hints"]], 0.5)
        right += sum(_norm(card[f]) == _norm(labels["card"][f]) for f in fields)
        total += len(fields)
        assert (card["interest_drop"] is not None) == labels["interest_dropped"], labels["call_id"]
    assert total == len(FITTED_CALLS) * len(fields)
    assert right / total >= 0.975


# ----------------------------------------------------------------------------------------------------------------------
# general rules found with ho-13 .. ho-24 (each checked on phrasings of its own, not the calls' words)


def test_company_after_a_genitive_chain_a_job_or_the_callee() -> None:
    card = card_of(("manager", "добрый день меня зовут олег компания профторг"),
                   ("client", "это ирина сеть салонов красоты ромашка"))
    assert card["company"] == "Ромашка"
    card = card_of(("manager", "добрый день меня зовут олег компания агроснаб"),
                   ("client", "петров иван главный инженер гранит слушаю"), direction="outbound")
    assert card["company"] == "Гранит"
    card = card_of(("manager", "добрый день меня зовут олег компания клинсервис звоню в компанию вектор"),
                   ("client", "слушаю у нас уборкой занимается фирма чистюля"), direction="outbound")
    assert card["company"] == "Вектор"  # the one the manager calls, not the supplier the client names


def test_city_in_other_forms_and_towns_off_the_list() -> None:
    for text, expected in (("у нас хозяйство под курском", "Курск"), ("я сам с тамбова", "Тамбов"),
                           ("у нас пять аптек по самаре", "Самара"), ("мы из моршанска", "Моршанск")):
        assert city(utts(("client", text))) is not None, text
        assert city(utts(("client", text))).value == expected  # type: ignore[union-attr]
    assert city(utts(("client", "мы из урала"))) is None  # a region, not a town


def test_a_name_said_before_zovut_and_a_third_party_with_patronymic() -> None:
    card = card_of(("manager", "добрый день меня зовут роман ваш телефон дал сергей иванович из компании заря"),
                   ("client", "меня ольга зовут слушаю"), direction="outbound")
    assert card["contact_name"] == "Ольга"
    assert card["lead_source"] == "referral"  # the manager says who gave him the number


def test_lead_source_met_at_a_named_event_and_an_existing_contract() -> None:
    card = card_of(("manager", "добрый день мы с вами познакомились на агропроме в марте"),
                   ("client", "да помню"), direction="outbound")
    assert card["lead_source"] == "exhibition"
    card = card_of(("manager", "добрый день мы с вами общались на прошлой неделе"),
                   ("client", "да помню"), direction="outbound")
    assert card["lead_source"] == "cold"
    card = card_of(("client", "здравствуйте у нас с вами договор на обслуживание котлов"),
                   ("manager", "да вижу"))
    assert card["lead_source"] == "repeat" and card["pipeline"] == "farming"


def test_decision_maker_by_job_and_by_who_will_approve() -> None:
    assert card_of(("client", "я директор этого магазина"))["decision_maker"] is True
    assert card_of(("client", "я директор но подписывать будет учредитель"))["decision_maker"] is False
    assert card_of(("client", "сам я тут хозяин так что слушаю"))["decision_maker"] is True
    assert card_of(("client", "выбирать будут главный инженер и директор я только собираю предложения"))[
        "decision_maker"] is False


def test_outcome_conditions_far_call_backs_and_plain_refusals() -> None:
    card = card_of(("client", "если скидку дадите то сразу оформляем"),
                   ("manager", "уточню и в четверг позвоню"), ("client", "хорошо"))
    assert card["outcome"] == "next_step_agreed"  # an order on a condition is not made yet
    card = card_of(("client", "денег пока нет наберите мне в конце лета"),
                   ("manager", "договорились наберу двадцатого августа"), ("client", "давайте"))
    assert card["outcome"] == "postponed" and card["pipeline"] == "nurturing" and card["urgency"] == "low"
    card = card_of(("manager", "может попробуете"), ("client", "честно говоря смысла менять не вижу"),
                   ("manager", "понял"), ("client", "всего доброго"), direction="outbound")
    assert card["outcome"] == "refused"


def test_urgency_from_a_planned_month_a_last_day_and_a_deadline_beside_not_urgent() -> None:
    assert card_of(("client", "запуститься хотим в июле"))["urgency"] == "medium"
    assert card_of(("client", "нам нужно чтобы край в пятницу все было на месте"))["urgency"] == "high"
    assert card_of(("client", "не горит но к осени хорошо бы успеть"))["urgency"] == "medium"
    assert card_of(("client", "не горит присылайте когда будет"))["urgency"] == "low"


def test_pipeline_project_cues_and_a_live_look_is_no_walk_in() -> None:
    card = card_of(("client", "хотим обучение для отдела продаж пришлите программу"),
                   ("manager", "пришлю и созвонимся"), ("client", "хорошо"))
    assert card["pipeline"] == "project"
    card = card_of(("client", "хотелось бы посмотреть аппарат вживую до покупки"),
                   ("manager", "пришлю адрес и созвонимся"), ("client", "хорошо"))
    assert card["pipeline"] == "transactional"


def test_next_contact_is_the_call_not_the_delivery_or_a_message() -> None:
    found = next_contact(utts(("manager", "в четверг наберу вам а в пятницу машина у вас")), START.date())
    assert found is not None and found.value == "2026-05-14"
    found = next_contact(utts(("manager", "мастер будет у вас в понедельник восемнадцатого в среду пришлю смс")),
                         START.date())
    assert found is not None and found.value == "2026-05-18"
    assert [m.value for m in find_dates("успеть бы до нового года", START.date()) if m.deadline] == [
        date(2026, 12, 31)]


def test_shorthand_amount_takes_the_scale_of_the_call() -> None:
    found = budget(utts(("manager", "итого три миллиона сто тысяч какой бюджет"),
                        ("client", "рассчитывал в два восемьсот уложиться")), None)
    assert found is not None and found.value == 2_800_000
    found = budget(utts(("manager", "за партию двадцать восемь тысяч какой бюджет"),
                        ("client", "рассчитывали на двадцать шесть девятьсот")), None)
    assert found is not None and found.value == 26_900


def test_confirmed_phone_letter_initial_e_mail_and_one_word_e_mail() -> None:
    card = card_of(("manager", "номер для связи прежний восемь девятьсот шестнадцать семьсот семь двенадцать тридцать "
                               "четыре"), ("client", "да этот"))
    assert card["phone"] == "+79167071234"
    assert card_of(("client", "почта е точка смирнова собака мейл точка ру"))["email"] == "e.smirnova@mail.ru"
    assert card_of(("client", "почта синяя птица одним словом собака яндекс точка ру"))["email"] == \
        "sinyayaptitsa@yandex.ru"
