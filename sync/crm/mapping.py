"""Per-company CRM mapping: ``crm.toml`` in the config folder (``knowledge.settings.config_dir()``).

Which CRM pipeline and stage each of our pipelines goes to, which stage each outcome moves the deal
to, which custom fields hold the call id, budget, source and next contact date, the tags. Keys are
checked against ``resources/taxonomy.yaml`` (pipelines, outcomes, lead sources, refusal reasons);
``load_mapping`` reports every problem at once as ``file: path.to.key: reason``. No secrets here:
tokens and webhook codes live in the OS keyring (``sync.crm.secrets``). Example::

    [amocrm]
    base_url = "https://example.amocrm.ru"   # or https://example.kommo.com
    auth = "long_lived"                      # or "oauth" (client_id + redirect_uri below)
    default_pipeline = "transactional"
    tags = ["Суфлёр"]
    [amocrm.fields]                          # lead custom field ids
    call_id = 900001                         # required: text field with our call id (finds the deal again)
    source = 900002
    next_contact = 900003                    # date field (Unix time)
    [amocrm.pipelines]
    transactional = { pipeline = 1001, stage = 11 }
    project = { pipeline = 1002, stage = 21 }
    [amocrm.outcomes]                        # 142 = won, 143 = lost in every amoCRM pipeline
    won = 142
    refused = 143

    [bitrix24]
    base_url = "https://example.bitrix24.ru"
    user_id = 1                              # the webhook's user; the webhook code is in the keyring
    default_pipeline = "transactional"
    [bitrix24.fields]
    call_id = "UF_CRM_SUFLER_CALL"           # optional: ORIGINATOR_ID/ORIGIN_ID always hold the call id
    next_contact = "UF_CRM_NEXT_CONTACT"
    [bitrix24.pipelines]
    transactional = { pipeline = 0, stage = "NEW" }      # pipeline = CATEGORY_ID
    [bitrix24.outcomes]                      # a stage without "C<n>:" gets the pipeline's prefix
    won = "WON"
    refused = "LOSE"
    [bitrix24.sources]
    referral = "RECOMMENDATION"
"""

from __future__ import annotations

import tomllib
from datetime import time as dtime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sync.crm.errors import ConfigError

FILE_NAME = "crm.toml"


def mapping_path() -> Path:
    from knowledge.settings import config_dir

    return config_dir() / FILE_NAME


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Strict):
    pipeline: int | str
    stage: int | str


class Fields(_Strict):
    call_id: int | str | None = None
    budget: int | str | None = None      # absent: the deal's own amount (amoCRM price, Bitrix24 OPPORTUNITY)
    source: int | str | None = None      # absent in Bitrix24: SOURCE_ID
    next_contact: int | str | None = None
    tags: int | str | None = None        # Bitrix24 has no deal tags: a text field for them, if wanted


class TargetMapping(_Strict):
    base_url: str
    default_pipeline: str | None = None
    pipelines: dict[str, Stage] = Field(default_factory=dict)
    outcomes: dict[str, int | str] = Field(default_factory=dict)
    sources: dict[str, int | str] = Field(default_factory=dict)
    fields: Fields = Field(default_factory=Fields)
    tags: list[str] = Field(default_factory=list)
    responsible_user_id: int | None = None
    task_time: str = "10:00"
    timezone: str = "Europe/Moscow"
    timeout_seconds: float = Field(default=20.0, gt=0, le=300)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("нужен адрес https://…")
        return value.rstrip("/")

    @field_validator("task_time")
    @classmethod
    def _time(cls, value: str) -> str:
        try:
            dtime.fromisoformat(value)
        except ValueError:
            raise ValueError("ожидается время ЧЧ:ММ") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("неизвестный часовой пояс") from None
        return value

    def stage_for(self, pipeline: str | None, outcome: str | None) -> Stage | None:
        """The CRM pipeline and stage of a card; None when neither its pipeline nor the default is mapped."""
        stage = self.pipelines.get(pipeline or "") or self.pipelines.get(self.default_pipeline or "")
        if stage is None:
            return None
        if outcome and outcome in self.outcomes:
            return Stage(pipeline=stage.pipeline, stage=self.outcomes[outcome])
        return stage


class AmoMapping(TargetMapping):
    auth: Literal["long_lived", "oauth"] = "long_lived"
    client_id: str | None = None
    redirect_uri: str | None = None
    task_type_id: int = 1
    loss_reasons: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _checks(self) -> AmoMapping:
        if self.fields.call_id is None:
            raise ValueError("fields.call_id: обязательное поле (текстовое поле сделки для id звонка)")
        if self.auth == "oauth" and not (self.client_id and self.redirect_uri):
            raise ValueError("для auth = \"oauth\" нужны client_id и redirect_uri")
        return self


class BitrixMapping(TargetMapping):
    user_id: int = Field(gt=0)


class CrmMapping(_Strict):
    amocrm: AmoMapping | None = None
    bitrix24: BitrixMapping | None = None

    def targets(self) -> list[str]:
        return [name for name in ("amocrm", "bitrix24") if getattr(self, name) is not None]


_MESSAGES = {
    "missing": "обязательное поле",
    "extra_forbidden": "неизвестный ключ",
    "int_parsing": "ожидается целое число",
    "int_type": "ожидается целое число",
    "string_type": "ожидается строка",
    "literal_error": "недопустимое значение",
    "greater_than": "должно быть больше нуля",
}


def _taxonomy_problems(mapping: CrmMapping) -> list[str]:
    from knowledge.taxonomy import default_taxonomy

    tax = default_taxonomy()
    known = {"pipelines": set(tax.pipelines), "outcomes": set(tax.outcomes), "sources": set(tax.lead_sources),
             "loss_reasons": set(tax.refusal_reasons)}
    problems: list[str] = []
    for name in mapping.targets():
        section = getattr(mapping, name)
        for key, ids in known.items():
            for item in getattr(section, key, {}) or {}:
                if item not in ids:
                    problems.append(f"{name}.{key}.{item}: неизвестный id (есть: {', '.join(sorted(ids))})")
        default = section.default_pipeline
        if default is not None and default not in section.pipelines:
            problems.append(f"{name}.default_pipeline: воронка {default} не описана в {name}.pipelines")
        if not section.pipelines:
            problems.append(f"{name}.pipelines: не задано ни одной воронки")
    return problems


def parse_mapping(text: str, source: str = FILE_NAME) -> CrmMapping:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: не TOML ({exc})") from exc
    try:
        mapping = CrmMapping.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
            message = _MESSAGES.get(error["type"], str(error["msg"]).removeprefix("Value error, "))
            lines.append(f"{source}: {where or '(файл)'}: {message}")
        raise ConfigError("\n".join(lines)) from None
    problems = _taxonomy_problems(mapping)
    if not mapping.targets():
        problems.append("не описана ни одна CRM (разделы [amocrm] или [bitrix24])")
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
    return mapping


def load_mapping(path: Path | None = None) -> CrmMapping:
    path = path or mapping_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: нет файла сопоставления CRM; создайте его: sufler crm setup") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: не читается ({exc})") from exc
    return parse_mapping(text, str(path))
