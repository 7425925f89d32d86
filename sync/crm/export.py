"""File export of cards for CRMs without an adapter: JSON (a list of objects) or CSV (UTF-8 with BOM for
Excel, ``;``-separated, lists joined by ``, ``). Text that a spreadsheet would run as a formula
(``=``, ``@``, or ``+``/``-`` not followed by a digit) is prefixed with ``'``; phones stay ``+7…``."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from typing import Any

from sync.crm.cards_store import CARD_FIELDS, StoredCard

COLUMNS = ("call_id", "status", *CARD_FIELDS)
_FORMULA = re.compile(r"^(?:[=@\t\r]|[+-](?![\d\s(]))")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "'" + text if _FORMULA.match(text) else text


def to_json(cards: Iterable[StoredCard]) -> str:
    return json.dumps([{"call_id": c.call_id, "status": c.status, **c.card} for c in cards], ensure_ascii=False,
                      indent=1)


def to_csv(cards: Iterable[StoredCard]) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for c in cards:
        row = {"call_id": c.call_id, "status": c.status, **c.card}
        writer.writerow([_cell(row.get(col)) for col in COLUMNS])
    return out.getvalue()
