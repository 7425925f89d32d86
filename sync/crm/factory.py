"""Adapters for the targets of a mapping, with secrets from the OS keyring."""

from __future__ import annotations

from sync.crm.amocrm import AmoCrmAdapter, Secrets
from sync.crm.base import Adapter
from sync.crm.bitrix24 import Bitrix24Adapter
from sync.crm.mapping import CrmMapping


def build_adapters(mapping: CrmMapping, *, targets: list[str] | None = None,
                   secrets: Secrets | None = None) -> list[Adapter]:
    adapters: list[Adapter] = []
    if mapping.amocrm is not None and (targets is None or "amocrm" in targets):
        adapters.append(AmoCrmAdapter(mapping.amocrm, secrets=secrets))
    if mapping.bitrix24 is not None and (targets is None or "bitrix24" in targets):
        adapters.append(Bitrix24Adapter(mapping.bitrix24, secrets=secrets))
    return adapters
