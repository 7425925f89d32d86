"""CRM wrap-up: the local card store, the outbox and delivery to amoCRM/Kommo v4 and Bitrix24 REST.

Everything lives in ``knowledge.settings.data_dir() / "calls.db"`` (SQLite WAL, ``synchronous=FULL``),
in tables of its own (``crm_cards``, ``crm_card_edits``, ``outbox``, ``crm_remote_ids``,
``outbox_targets``); the calls tables of ``assist.call_store`` are not needed.

The API the wrap-up dialog uses::

    from sync.crm import CardStore, Outbox, calls_db_path, build_adapters, load_mapping

    store = CardStore(calls_db_path())
    store.save_draft(call_id, card)                 # the card of ``assist.wrapup.build_card`` (new version)
    store.edit(call_id, "budget_rub", 700000, who="anna")   # every change kept in crm_card_edits
    store.confirm(call_id, ["amocrm"], who="anna")  # confirmed card + outbox rows in ONE transaction

    outbox = Outbox(calls_db_path())
    outbox.deliver(build_adapters(load_mapping()))  # step by step; safe to call again after a crash
    outbox.status()       # counts: sent / pending / retrying / dead (needs attention, with reasons) / paused
    outbox.retry_dead(row_id); outbox.resume("amocrm")

Modules: ``cards_store`` (cards and their history), ``outbox`` (delivery loop), ``backoff``
(exponential backoff with full jitter, Retry-After), ``ratelimit`` (client-side limiter),
``http`` (httpx wrapper: error mapping, secret redaction in logs), ``amocrm``, ``bitrix24``
(adapters), ``mapping`` (per-company TOML mapping), ``secrets`` (OS keyring only), ``export``
(JSON/CSV). Logs carry field names, step names and ids, never phones, e-mails or tokens.
"""

from __future__ import annotations

from sync.crm.cards_store import CardError, CardStore, calls_db_path
from sync.crm.outbox import Outbox, OutboxStatus

__all__ = ["CardError", "CardStore", "Outbox", "OutboxStatus", "build_adapters", "calls_db_path", "load_mapping"]


def __getattr__(name: str) -> object:  # lazy: the adapters pull in httpx and keyring
    if name == "build_adapters":
        from sync.crm.factory import build_adapters

        return build_adapters
    if name == "load_mapping":
        from sync.crm.mapping import load_mapping

        return load_mapping
    raise AttributeError(name)
