"""The HTTP layer of the adapters: httpx with the rate limiter, error mapping and log redaction.

Status mapping (both CRMs): 2xx ok (204 = empty); 429 and 503 → ``TransientError`` with Retry-After
(the limiter is held back for that long); other 5xx, timeouts and network errors → ``TransientError``;
401/403 → ``AuthError``; other 4xx → ``RejectedError`` with the error codes and field paths (no values).

httpx logs each request URL at INFO; the URL can hold a phone (``?query=``) or a Bitrix24 webhook
secret (``/rest/1/<code>/``). ``install_redaction`` puts a filter on the ``httpx`` logger that drops
query strings and masks every registered secret.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from sync.crm.backoff import parse_retry_after
from sync.crm.errors import AuthError, RejectedError, TransientError
from sync.crm.ratelimit import RateLimiter

log = logging.getLogger("sufler.crm")
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_QUERY = re.compile(r"\?[^\s\"']*")


def register_secret(value: str | None) -> None:
    """Mask this value wherever the redaction filter sees it (tokens, webhook codes)."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    text = _QUERY.sub("?…", text)
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix; let logging report it
            return True
        record.msg, record.args = redact(message), None
        return True


_installed = False


def install_redaction() -> None:
    global _installed
    if not _installed:
        _installed = True
        for name in ("httpx", "httpcore", "httpcore.http11", "httpcore.http2", "httpcore.connection"):
            logging.getLogger(name).addFilter(_RedactFilter())


def problem_details(body: Any) -> str:
    """Codes and field paths of an error body (amoCRM problem+json or Bitrix24 error), never values."""
    parts: list[str] = []
    if isinstance(body, Mapping):
        for key in ("error", "title"):
            if isinstance(body.get(key), str):
                parts.append(str(body[key])[:80])
        for item in body.get("validation-errors") or []:
            if isinstance(item, Mapping):
                for error in item.get("errors") or []:
                    if isinstance(error, Mapping):
                        parts.append(f"{str(error.get('code'))[:60]} {str(error.get('path'))[:80]}")
    return "; ".join(parts) or "нет подробностей"


class CrmHttp:
    """One httpx client per CRM target; every request waits for the limiter first."""

    def __init__(self, base_url: str, limiter: RateLimiter, *, timeout: float = 20.0,
                 transport: httpx.BaseTransport | None = None, target: str = "crm") -> None:
        install_redaction()
        self.target = target
        self.limiter = limiter
        self.client = httpx.Client(base_url=base_url, timeout=timeout, transport=transport,
                                   headers={"User-Agent": "sufler-crm/0.1"})

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, *, what: str, params: Mapping[str, Any] | None = None,
                json: Any = None, headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """Send one request; ``what`` names the step for logs and errors. Returns (status, parsed JSON)."""
        self.limiter.acquire()
        try:
            response = self.client.request(method, path, params=params, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            log.info("%s %s: timeout", self.target, what)
            raise TransientError(f"{self.target} {what}: нет ответа (таймаут)") from exc
        except httpx.TransportError as exc:
            log.info("%s %s: network error %s", self.target, what, type(exc).__name__)
            raise TransientError(f"{self.target} {what}: сеть недоступна ({type(exc).__name__})") from exc
        status = response.status_code
        try:
            body: Any = response.json() if response.content else None
        except ValueError:
            body = None
        log.debug("%s %s: HTTP %d", self.target, what, status)
        if status < 300:
            return status, body
        details = problem_details(body)
        if status in (429, 503) or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after:
                self.limiter.penalize(retry_after)
            log.info("%s %s: HTTP %d %s, retry after %s", self.target, what, status, details, retry_after)
            raise TransientError(f"{self.target} {what}: HTTP {status} {details}", retry_after, status=status)
        if status in (401, 403):
            log.info("%s %s: HTTP %d %s", self.target, what, status, details)
            raise AuthError(f"{self.target} {what}: HTTP {status} {details}", status=status)
        log.info("%s %s: rejected HTTP %d %s", self.target, what, status, details)
        raise RejectedError(f"{self.target} {what}: HTTP {status} {details}", status=status)
