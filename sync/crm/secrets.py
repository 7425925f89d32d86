"""CRM secrets only in the OS keyring (``keyring``): never in settings, the mapping or any file.

Names (service ``sufler-crm``): ``amocrm:access_token``, ``amocrm:refresh_token`` (separately, for the
Windows 2,560-byte limit), ``amocrm:client_secret``, ``bitrix24:webhook`` (the webhook code).

Refused backends, with a plain message that says what to do: ``keyring.backends.fail.Keyring`` (no
Secret Service, e.g. headless Linux), ``keyring.backends.null.Keyring``, and plain-text file backends
(``keyrings.alt`` Plaintext…). Tests install an in-memory backend with ``keyring.set_keyring``.
"""

from __future__ import annotations

import contextlib

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from sync.crm.errors import SecretsError
from sync.crm.http import register_secret

SERVICE = "sufler-crm"
NO_KEYRING = ("нет надёжного хранилища паролей ОС ({backend}): токены CRM хранятся только в нём. "
              "Включите Secret Service (GNOME Keyring/KWallet), Связку ключей macOS или Диспетчер учётных "
              "данных Windows и повторите; в файл токен записан не будет")
REFUSED = {"keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"}


def _name(backend: KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def _unsafe(backend: KeyringBackend) -> bool:
    name = _name(backend)
    return name in REFUSED or "plaintext" in name.lower() or (
        name.startswith("keyrings.alt.") and "encrypt" not in name.lower())


def check_backend() -> KeyringBackend:
    """The active backend, or ``SecretsError`` when it cannot keep a secret safely."""
    backend = keyring.get_keyring()
    children = getattr(backend, "backends", None)
    if _name(backend) == "keyring.backends.chainer.ChainerBackend":
        usable = [b for b in children or [] if not _unsafe(b)]
        if not usable or len(usable) != len(children or []):
            raise SecretsError(NO_KEYRING.format(backend=", ".join(_name(b) for b in children or []) or "нет"))
        return backend
    if _unsafe(backend):
        raise SecretsError(NO_KEYRING.format(backend=_name(backend)))
    return backend


def get_secret(name: str) -> str | None:
    check_backend()
    try:
        value = keyring.get_password(SERVICE, name)
    except keyring.errors.KeyringError as exc:
        raise SecretsError(f"хранилище паролей ОС не отвечает ({type(exc).__name__})") from exc
    register_secret(value)
    return value


def require_secret(name: str) -> str:
    value = get_secret(name)
    if not value:
        raise SecretsError(f"нет секрета {name} в хранилище паролей ОС; выполните: sufler crm setup")
    return value


def set_secret(name: str, value: str) -> None:
    check_backend()
    register_secret(value)
    try:
        keyring.set_password(SERVICE, name, value)
    except keyring.errors.KeyringError as exc:
        raise SecretsError(f"не удалось сохранить {name} в хранилище паролей ОС ({type(exc).__name__})") from exc


def delete_secret(name: str) -> None:
    check_backend()
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        keyring.delete_password(SERVICE, name)
