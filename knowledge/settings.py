"""User settings: a TOML file in the config folder, overridable by SUFLER_* environment variables.

pydantic-settings gives typed values, env overrides (``SUFLER_EMBEDDING__MODEL=...``) and a clear
message naming the bad field; platformdirs gives the per-user folders on every OS.
``SUFLER_HOME`` puts config and data in one folder (tests, portable installs).
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

APP_NAME = "sufler"
RESOURCES = Path(__file__).resolve().parent.parent / "resources"

# The built-in Russian-capable encoder shipped inside a PyPI package (numpy only, offline).
BUILTIN_USE = "builtin:use-multilingual"
NO_MODEL = "none"


class SettingsError(Exception):
    """The settings file cannot be read or holds a bad value."""


def config_dir() -> Path:
    home = os.environ.get("SUFLER_HOME")
    return Path(home) if home else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    home = os.environ.get("SUFLER_HOME")
    return Path(home) if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


MODEL_CACHE_ENV = "SUFLER_MODEL_CACHE"


def model_cache_dir() -> Path:
    """Where fitted detector and checklist models are cached (``.npz`` files named by a hash of what
    they were fitted on, so any process may share them): ``SUFLER_MODEL_CACHE`` or the data folder."""
    override = os.environ.get(MODEL_CACHE_ENV)
    return Path(override) if override else data_dir() / "detector"


BUNDLED_MODELS_ENV = "SUFLER_BUNDLED_MODELS"


def bundled_models_dir() -> Path | None:
    """Models shipped with a built app (``build_installer.py --models``): ``$SUFLER_BUNDLED_MODELS``, or
    ``models/`` inside the frozen app. They are looked up after the user's own models folder, by name,
    so settings never hold a path into the app's folder."""
    named = os.environ.get(BUNDLED_MODELS_ENV)
    if named:
        return Path(named)
    frozen = getattr(sys, "_MEIPASS", None)
    folder = Path(frozen) / "models" if frozen else None
    return folder if folder is not None and folder.is_dir() else None


def settings_path() -> Path:
    return config_dir() / "settings.toml"


class EmbeddingSettings(BaseModel):
    # A sentence-transformers model name (downloaded once into the models folder), a local folder,
    # "builtin:use-multilingual" (Russian-capable, ships with the app) or "none" (lemmas only).
    model: str = BUILTIN_USE
    device: str = "cpu"


class IndexSettings(BaseModel):
    # Empty: Qdrant's embedded engine on disk. A URL (http://host:6333): a Qdrant server.
    qdrant_url: str = ""
    qdrant_api_key: str = ""
    collection: str = "playbook"


class PlaybookSettings(BaseModel):
    # Empty: the playbook bundled with the app.
    path: str = ""


class DistributionSettings(BaseModel):
    """Signed playbook updates (``sufler kb publish`` / ``pull``)."""

    # Where bundles come from: a folder (a network share) or an http(s) URL. Empty: no channel.
    channel: str = ""
    # The name written into (and required from) every bundle's signed manifest.
    channel_name: str = Field(default="main", pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    # Publishers' public keys ("ed25519:<base64>" lines from `sufler kb keygen`); several allowed.
    trusted_keys: list[str] = Field(default_factory=list)
    # Key ids (16 hex digits) that must never be accepted again, even if still listed as trusted.
    revoked_keys: list[str] = Field(default_factory=list)
    check_interval_minutes: int = Field(default=60, ge=1)
    expires_days: int = Field(default=30, ge=1, le=3650)
    max_bundle_mb: int = Field(default=200, ge=1)
    stall_timeout_seconds: float = Field(default=30.0, gt=0)
    download_deadline_seconds: float = Field(default=1800.0, gt=0)


class SpeechSettings(BaseModel):
    # A vosk model name installed under data_dir()/models/vosk (sufler models download/import) or a folder.
    model: str = "vosk-model-small-ru-0.22"
    # Capture devices. "": the system default (the microphone; the monitor/loopback of the default output
    # for the client). "sounddevice:NAME" or "soundcard:NAME" picks a backend and a device; "none" turns
    # the channel off. `sufler devices` lists the names.
    manager_device: str = ""
    client_device: str = ""
    # Auto mode: the call ends after this many seconds without speech on both channels.
    auto_stop_silence_seconds: float = Field(default=30.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUFLER_", env_nested_delimiter="__", extra="ignore")

    language: str = Field(default="ru", pattern="^(ru|en)$")
    embedding: EmbeddingSettings = EmbeddingSettings()
    index: IndexSettings = IndexSettings()
    playbook: PlaybookSettings = PlaybookSettings()
    speech: SpeechSettings = SpeechSettings()
    distribution: DistributionSettings = DistributionSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    def playbook_dir(self) -> Path:
        return Path(self.playbook.path).expanduser() if self.playbook.path else RESOURCES / "kb"

    def models_dir(self) -> Path:
        return data_dir() / "models"

    def index_dir(self) -> Path:
        return data_dir() / "index"

    def staging_dir(self) -> Path:
        return data_dir() / "staging"

    def bundles_dir(self) -> Path:
        """Verified bundles kept for recovery and rollback."""
        return data_dir() / "bundles"

    def state_path(self) -> Path:
        return data_dir() / "sufler.db"


class _TomlSource(PydanticBaseSettingsSource):
    """Reads settings.toml; a broken file is reported with its path, not silently ignored."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = settings_path()
        self._data: dict[str, Any] = {}
        if path.exists():
            try:
                self._data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise SettingsError(f"{path}: не удалось прочитать настройки: {exc}") from exc

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SettingsError(f"{settings_path()}: поле {where}: {first['msg']}") from exc


def save_settings(settings: Settings) -> Path:
    """Write settings atomically (temp file + rename) so a crash never leaves half a file."""
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(settings.model_dump(mode="json")), encoding="utf-8")
    os.replace(tmp, path)
    return path
