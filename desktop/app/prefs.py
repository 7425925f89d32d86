"""Desktop-only preferences (window places, shortcut, retention, CRM connection, admin mode).

Engine settings (devices, models, language, channel) stay in ``settings.toml`` through
``knowledge.settings``; what only the GUI needs lives in ``desktop.ini`` beside it (QSettings, INI).
Secrets never go here: the CRM token goes to the OS keyring through the CRM module.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from knowledge.settings import config_dir

DEFAULT_SHORTCUT = "Ctrl+Alt+S"
DEFAULT_RETENTION_DAYS = 30


class Prefs:
    def __init__(self) -> None:
        path = config_dir() / "desktop.ini"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.q = QSettings(str(path), QSettings.Format.IniFormat)

    def _get(self, key: str, default: Any) -> Any:
        value = self.q.value(key, default)
        return default if value is None else value

    def _set(self, key: str, value: Any) -> None:
        self.q.setValue(key, value)
        self.q.sync()

    @property
    def shortcut(self) -> str:
        return str(self._get("shortcut", DEFAULT_SHORTCUT))

    @shortcut.setter
    def shortcut(self, value: str) -> None:
        self._set("shortcut", value)

    @property
    def retention_days(self) -> int:
        try:
            return int(self._get("retention_days", DEFAULT_RETENTION_DAYS))
        except (TypeError, ValueError):
            return DEFAULT_RETENTION_DAYS

    @retention_days.setter
    def retention_days(self, value: int) -> None:
        self._set("retention_days", int(value))

    @property
    def admin(self) -> bool:
        return str(self._get("admin", "false")).lower() == "true"

    @admin.setter
    def admin(self, value: bool) -> None:
        self._set("admin", "true" if value else "false")

    @property
    def first_run_done(self) -> bool:
        return str(self._get("first_run_done", "false")).lower() == "true"

    @first_run_done.setter
    def first_run_done(self, value: bool) -> None:
        self._set("first_run_done", "true" if value else "false")

    @property
    def crm_kind(self) -> str:
        return str(self._get("crm/kind", "amocrm"))

    @crm_kind.setter
    def crm_kind(self, value: str) -> None:
        self._set("crm/kind", value)

    @property
    def crm_url(self) -> str:
        return str(self._get("crm/url", ""))

    @crm_url.setter
    def crm_url(self, value: str) -> None:
        self._set("crm/url", value)

    def geometry(self, window: str) -> QByteArray | None:
        value = self.q.value(f"{window}/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_geometry(self, window: str, value: QByteArray) -> None:
        self._set(f"{window}/geometry", value)

    def edge(self) -> str:
        return str(self._get("panel/edge", "right"))

    def set_edge(self, edge: str) -> None:
        self._set("panel/edge", edge)
