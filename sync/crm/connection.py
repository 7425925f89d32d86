"""``test_connection``: can we reach this CRM with the stored secret, and does the mapping fit it?

For ``sufler crm test`` and the settings dialog. Never raises: every failure (no keyring, no secret,
401, 5xx, rate limit, network, a wrong address) becomes one plain Russian line in
``ConnectionResult.message``; mismatches between ``crm.toml`` and the CRM (pipelines, stages, fields)
are listed in ``problems``. Requests: amoCRM ``GET /api/v4/account`` (then pipelines and lead fields),
Bitrix24 ``profile`` (then ``crm.category.list``, ``crm.status.list``, ``crm.deal.fields``).

    from sync.crm.connection import test_connection, StaticSecrets
    result = test_connection("amocrm")                                  # crm.toml + OS keyring
    result = test_connection("amocrm", mapping, secrets=StaticSecrets({"amocrm:access_token": typed}))
    result.ok, result.message, result.problems
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from sync.crm.amocrm import Secrets
from sync.crm.errors import AuthError, ConfigError, CrmError, RejectedError, SecretsError, TransientError
from sync.crm.mapping import CrmMapping

log = logging.getLogger("sufler.crm.connection")
LABELS = {"amocrm": "amoCRM", "bitrix24": "Bitrix24"}
__all__ = ["ConnectionResult", "StaticSecrets", "test_connection"]


@dataclass(frozen=True)
class ConnectionResult:
    target: str
    ok: bool                          # reached, authorised, and the mapping fits the CRM
    message: str                      # one line in Russian, safe to show (no token, no personal data)
    problems: tuple[str, ...] = ()    # crm.toml entries the CRM does not have


class StaticSecrets:
    """Secrets given directly (e.g. a token typed in the settings dialog, tested before it is saved)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = dict(values)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        self.values[name] = value


def _strip(target: str, text: str) -> str:
    return text.removeprefix(f"{target}:").removeprefix(target).strip()


def explain(target: str, exc: BaseException, base_url: str | None = None) -> str:
    """A plain Russian line for a failure of a CRM request."""
    label = LABELS.get(target, target)
    status = getattr(exc, "status", None)
    secret = "токен" if target == "amocrm" else "вебхук"
    if isinstance(exc, SecretsError | ConfigError):
        return f"{label}: {exc}"
    if isinstance(exc, AuthError):
        if status is None:
            return f"{label}: {_strip(target, str(exc))}"
        return f"{label}: CRM не приняла {secret} (HTTP {status}); введите новый: sufler crm setup"
    if isinstance(exc, TransientError):
        if status in (429, 503):
            return f"{label}: CRM просит подождать (лимит запросов, HTTP {status}); повторите через минуту"
        if status is not None:
            return f"{label}: ошибка на стороне CRM (HTTP {status}); повторите позже"
        if isinstance(exc.__cause__, httpx.TransportError):
            host = urlsplit(base_url).netloc if base_url else "CRM"
            why = "нет ответа (таймаут)" if isinstance(exc.__cause__, httpx.TimeoutException) else "сеть недоступна"
            return f"{label}: нет связи с {host}: {why}"
        return f"{label}: {_strip(target, str(exc))}"
    if isinstance(exc, RejectedError):
        if status == 404:
            return f"{label}: по этому адресу нет {label} (HTTP 404); проверьте base_url в crm.toml"
        return f"{label}: CRM отклонила запрос (HTTP {status}): {_strip(target, str(exc))}"
    if isinstance(exc, CrmError):
        return f"{label}: {_strip(target, str(exc))}"
    return f"{label}: непредвиденная ошибка ({type(exc).__name__})"


def test_connection(target: str, mapping: CrmMapping | None = None, *, secrets: Secrets | None = None,
                    timeout: float | None = 15.0, check_mapping: bool = True) -> ConnectionResult:
    """Reach ``target`` ("amocrm" or "bitrix24") with the mapping (default: ``crm.toml``) and the secrets
    (default: the OS keyring). ``timeout`` caps each request (None: the mapping's own)."""
    label = LABELS.get(target, target)
    base_url: str | None = None
    adapter: Any = None
    try:
        if mapping is None:
            from sync.crm.mapping import load_mapping

            mapping = load_mapping()
        section: Any = getattr(mapping, target, None) if target in LABELS else None
        if section is None:
            return ConnectionResult(target, False, f"{label}: нет раздела [{target}] в crm.toml")
        if timeout is not None:
            section = section.model_copy(update={"timeout_seconds": min(timeout, section.timeout_seconds)})
        base_url = section.base_url
        if secrets is None:
            from sync.crm.secrets import check_backend

            check_backend()
        if target == "amocrm":
            from sync.crm.amocrm import AmoCrmAdapter

            adapter = AmoCrmAdapter(section, secrets=secrets)
        else:
            from sync.crm.bitrix24 import Bitrix24Adapter

            adapter = Bitrix24Adapter(section, secrets=secrets)
        message = adapter.test_connection()
        problems = tuple(adapter.check()) if check_mapping else ()
    except Exception as exc:  # the caller wants a line to show, never a traceback
        log.info("%s: connection test failed: %s", target, type(exc).__name__)
        return ConnectionResult(target, False, explain(target, exc, base_url))
    finally:
        if adapter is not None:
            adapter.close()
    if problems:
        message += f"; расхождений с crm.toml: {len(problems)}"
    return ConnectionResult(target, not problems, message, problems)


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported in one
