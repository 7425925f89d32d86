"""Failures of CRM delivery. Messages name fields, steps, codes and ids, never personal data or tokens."""

from __future__ import annotations


class CrmError(Exception):
    """Base class; ``str(exc)`` is safe to log and to show. ``status``: the HTTP status, when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(CrmError):
    """Worth retrying later: rate limit (429/503), server error, network failure or timeout."""

    def __init__(self, message: str, retry_after: float | None = None, *, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class RejectedError(CrmError):
    """The CRM refused the data (400/404/422) or the mapping cannot express the card: a dead letter."""


class AuthError(CrmError):
    """401/403: the token is wrong or expired. One refresh is tried, then the target's queue pauses."""


class ConfigError(CrmError):
    """The CRM mapping file is missing or invalid; the message lists every problem."""


class SecretsError(CrmError):
    """No usable OS keyring, or a secret is missing."""
