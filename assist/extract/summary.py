"""A short Russian summary of the call, written from the extracted fields (never from guesses)."""

from __future__ import annotations

from datetime import date
from typing import Any

from knowledge.taxonomy import default_taxonomy

_SOURCES = {"cold": "холодный звонок", "inbound": "входящее обращение", "referral": "по рекомендации",
            "repeat": "действующий клиент", "exhibition": "контакт с выставки", "marketplace": "с маркетплейса",
            "other": "другой источник"}
_REASONS = {"price": "цена", "competitor": "конкурент", "no_need": "нет потребности", "no_budget": "нет бюджета",
            "timing": "не время", "terms": "условия", "manager": "ошибка менеджера", "other": "другое"}


def _money(value: int) -> str:
    if value >= 1_000_000:
        millions = value / 1_000_000
        text = f"{millions:.1f}".rstrip("0").rstrip(".").replace(".", ",")
        return f"{text} млн руб."
    if value >= 1000:
        return f"{value:,}".replace(",", " ") + " руб."
    return f"{value} руб."


def summarize(card: dict[str, Any]) -> str | None:
    taxonomy = default_taxonomy()
    who = card.get("contact_name") or "Клиент"
    details = [x for x in (card.get("company"), card.get("city")) if x]
    first = who + (f" ({', '.join(details)})" if details else "")
    if card.get("lead_source"):
        first += f", {_SOURCES.get(card['lead_source'], card['lead_source'])}"
    parts = [first + "."]
    facts = []
    if card.get("budget_rub"):
        facts.append(f"бюджет {_money(int(card['budget_rub']))}")
    if card.get("decision_maker") is True:
        facts.append("решение принимает сам")
    elif card.get("decision_maker") is False:
        facts.append("решение принимает не он")
    if card.get("objections"):
        facts.append("возражения: " + ", ".join(taxonomy.label(c).lower() for c in card["objections"]))
    if facts:
        parts.append(facts[0][0].upper() + "; ".join(facts)[1:] + ".")
    outcome = card.get("outcome")
    if outcome:
        line = f"Итог: {taxonomy.outcomes.get(outcome, outcome).lower()}"
        if outcome == "refused" and card.get("refusal_reason"):
            line += f" ({_REASONS.get(card['refusal_reason'], card['refusal_reason'])})"
        if card.get("next_contact_date"):
            day = date.fromisoformat(card["next_contact_date"])
            line += f", следующий контакт {day:%d.%m.%Y}"
        parts.append(line + ".")
    if len(parts) == 1 and who == "Клиент":
        return None
    return " ".join(parts)
