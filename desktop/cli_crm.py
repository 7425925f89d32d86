"""``sufler crm setup | test | push CARD | outbox [--retry] | export``: the CRM wrap-up from the command line.

The mapping lives in ``crm.toml`` in the config folder (``sync.crm.mapping``); tokens and webhook codes
only in the OS keyring. Without a usable keyring the commands say so and stop (exit 2); nothing is
written to disk instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True, highlight=False)
crm_app = typer.Typer(help="CRM: карточки звонков, отправка в amoCRM/Bitrix24, очередь.", no_args_is_help=True)

SECRETS = {"amocrm": {"long_lived": ["amocrm:access_token"],
                      "oauth": ["amocrm:client_secret", "amocrm:access_token", "amocrm:refresh_token"]},
           "bitrix24": {"webhook": ["bitrix24:webhook"]}}
PROMPTS = {"amocrm:access_token": "Токен доступа amoCRM (долгосрочный или access_token)",
           "amocrm:refresh_token": "refresh_token amoCRM", "amocrm:client_secret": "Секретный ключ интеграции amoCRM",
           "bitrix24:webhook": "Код входящего вебхука Bitrix24 (часть адреса после /rest/<id>/)"}


def _error(message: str) -> None:
    """A plain line on stderr (the message is not markup: it may hold ``[amocrm]``)."""
    err.print(f"[bold red]Ошибка:[/] {escape(message)}", markup=True, soft_wrap=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    _error(message)
    return typer.Exit(code)


def _keyring() -> None:
    """Stop with one line when the OS keyring cannot hold the tokens (nothing is written to disk instead)."""
    from sync.crm.errors import SecretsError
    from sync.crm.secrets import check_backend

    try:
        check_backend()
    except SecretsError as exc:
        raise _fail(str(exc), 2) from None


def _mapping() -> Any:
    from sync.crm.errors import ConfigError
    from sync.crm.mapping import load_mapping

    try:
        return load_mapping()
    except ConfigError as exc:
        raise _fail(str(exc), 2) from None


def _needed(mapping: Any) -> list[str]:
    names: list[str] = []
    if mapping.amocrm is not None:
        names += SECRETS["amocrm"][mapping.amocrm.auth]
    if mapping.bitrix24 is not None:
        names += SECRETS["bitrix24"]["webhook"]
    return names


def _adapters(mapping: Any, targets: list[str] | None = None) -> list[Any]:
    from sync.crm.errors import CrmError
    from sync.crm.factory import build_adapters

    try:
        return build_adapters(mapping, targets=targets)
    except CrmError as exc:
        raise _fail(str(exc), 2) from None


STATUS_RU = {"sent": "отправлено", "pending": "в очереди", "retrying": "повтор позже", "dead": "отклонено CRM"}


def _print_status(status: Any) -> None:
    typer.echo(f"Отправлено: {status.sent}  в очереди: {status.pending}  повтор: {status.retrying}  "
               f"требуют внимания: {status.needs_attention}")
    for target, reason in status.paused.items():
        typer.echo(f"  {target}: очередь на паузе: {reason}")
    for dead in status.dead_letters:
        typer.echo(f"  #{dead.id} {dead.target} звонок {dead.call_id}: {dead.reason}")


def register(app: typer.Typer) -> None:
    app.add_typer(crm_app, name="crm")


@crm_app.callback()
def _quiet_logs() -> None:
    # The commands say what went wrong in their own plain lines: the outbox's warnings (dead letter, pause)
    # would repeat them on stderr through logging's last-resort handler. A handler of the application, if
    # any, still gets every record (this one only stops the last resort).
    import logging

    logger = logging.getLogger("sufler.crm")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


@crm_app.command("setup")
def setup(
    mapping_file: Annotated[Path | None, typer.Option("--mapping", help="Готовый crm.toml: проверить и установить")]
    = None,
) -> None:
    """Сопоставление CRM (crm.toml) и секреты в хранилище паролей ОС."""
    from sync.crm.errors import ConfigError, SecretsError
    from sync.crm.mapping import __doc__ as example
    from sync.crm.mapping import mapping_path, parse_mapping
    from sync.crm.secrets import get_secret, set_secret

    _keyring()
    target = mapping_path()
    if mapping_file is not None:
        try:
            text = mapping_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(f"{mapping_file}: не читается ({type(exc).__name__})", 2) from None
        try:
            parse_mapping(text, str(mapping_file))
        except ConfigError as exc:
            raise _fail(str(exc), 2) from None
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        typer.echo(f"Сопоставление установлено: {target}")
    elif not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        sample = (example or "").split("Example::", 1)[1]
        target.write_text("\n".join(line[4:] for line in sample.splitlines()).strip() + "\n", encoding="utf-8")
        raise _fail(f"создан образец {target}: впишите id воронок, этапов и полей вашей CRM и повторите", 2)
    mapping = _mapping()
    for name in _needed(mapping):
        try:
            have = get_secret(name)
            value = typer.prompt(PROMPTS[name] + (" (Enter — оставить прежний)" if have else ""), hide_input=True,
                                 default="" if have else None, show_default=False)
            if value:
                set_secret(name, value.strip())
        except SecretsError as exc:
            raise _fail(str(exc), 2) from None
    from sync.crm import Outbox, calls_db_path

    with Outbox(calls_db_path()) as outbox:
        outbox.resume()
    typer.echo("Секреты сохранены в хранилище паролей ОС. Проверьте связь: sufler crm test")


@crm_app.command("test")
def test() -> None:
    """Проверить сопоставление, хранилище паролей и доступ к CRM (воронки, этапы, поля)."""
    from sync.crm.connection import test_connection

    mapping = _mapping()
    _keyring()
    bad = False
    for target in mapping.targets():
        result = test_connection(target, mapping)
        if result.ok or result.problems:
            typer.echo(result.message)
        else:
            _error(result.message)
        for problem in result.problems:
            typer.echo(f"  {problem}")
        bad = bad or not result.ok
    if bad:
        raise typer.Exit(1)


@crm_app.command("push")
def push(
    card: Annotated[str, typer.Argument(help="id звонка из базы или файл JSON (вывод analyze или карточка)")],
    target: Annotated[list[str] | None, typer.Option("--to", help="amocrm / bitrix24 (по умолчанию все из crm.toml)")]
    = None,
    wait: Annotated[float, typer.Option(help="Сколько секунд ждать повторов")] = 60.0,
    who: Annotated[str, typer.Option(help="Кто подтверждает")] = "cli",
) -> None:
    """Подтвердить карточку и отправить в CRM (через очередь: сбой не теряет карточку)."""
    from sync.crm import CardStore, Outbox, calls_db_path
    from sync.crm.cards_store import CardError, card_of
    from sync.crm.errors import CrmError

    mapping = _mapping()
    targets = list(target or mapping.targets())
    _keyring()
    with CardStore(calls_db_path()) as store:
        path = Path(card)
        try:
            if path.suffix == ".json" and path.is_file():
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, ValueError):
                    raise CardError(f"{path.name}: не JSON (нужен вывод sufler analyze --json или карточка)") from None
                call_id = str((data.get("call_id") if isinstance(data, dict) else None) or path.stem)
                store.save_draft(call_id, card_of(data), who=who)
            elif store.get(card) is None:
                raise CardError(f"{card}: нет такого файла .json и нет карточки звонка с таким id")
            else:
                call_id = card
            store.confirm(call_id, targets, who=who)
        except CardError as exc:
            raise _fail(str(exc), 2) from None
    adapters = _adapters(mapping, targets)
    try:
        with Outbox(calls_db_path()) as outbox:
            outbox.deliver(adapters, wait=True, timeout=wait)
            _print_status(outbox.status())
            report_paused = outbox.status().paused
            rows = {r["target"]: (r["status"], r["last_error"]) for r in outbox.conn.execute(
                "SELECT target, status, last_error FROM outbox WHERE call_id = ?", (call_id,))}
    except CrmError as exc:
        raise _fail(str(exc)) from None
    finally:
        for adapter in adapters:
            adapter.close()
    for name, (status, _reason) in rows.items():
        typer.echo(f"{name}: {STATUS_RU.get(status, status)}")
    failed = {name: (status, reason) for name, (status, reason) in rows.items() if status != "sent"}
    for name, (status, reason) in failed.items():
        paused = report_paused.get(name)
        if paused:
            _error(f"{name}: не отправлено, очередь на паузе: {paused}")
        elif status == "dead":
            _error(f"{name}: CRM отклонила карточку: {reason}; исправьте и выполните: sufler crm outbox --retry")
        else:
            _error(f"{name}: не отправлено, повтор позже ({reason or 'ждёт очереди'}); см. sufler crm outbox")
    if failed:
        raise typer.Exit(1)


@crm_app.command("outbox")
def outbox_cmd(
    retry: Annotated[bool, typer.Option("--retry", help="Вернуть в очередь отвергнутые, снять паузу и отправить")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Вывести JSON")] = False,
    wait: Annotated[float, typer.Option(help="Сколько секунд отправлять при --retry")] = 60.0,
) -> None:
    """Очередь отправки: отправлено, ждут, повторы, требуют внимания (с причинами)."""
    from sync.crm import Outbox, calls_db_path
    from sync.crm.errors import CrmError

    if retry:
        _keyring()
    with Outbox(calls_db_path()) as outbox:
        if retry:
            outbox.retry_dead()
            outbox.resume()
            adapters = _adapters(_mapping())
            try:
                outbox.deliver(adapters, wait=True, timeout=wait)
            except CrmError as exc:
                raise _fail(str(exc)) from None
            finally:
                for adapter in adapters:
                    adapter.close()
        status = outbox.status()
    if as_json:
        typer.echo(json.dumps({"sent": status.sent, "pending": status.pending, "retrying": status.retrying,
                               "dead": [vars(d) for d in status.dead_letters], "paused": status.paused},
                              ensure_ascii=False, indent=1))
    else:
        _print_status(status)
    if status.needs_attention:
        raise typer.Exit(1)


@crm_app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", help="json или csv")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="Файл (по умолчанию stdout)")] = None,
    status: Annotated[str | None, typer.Option(help="draft / confirmed (по умолчанию все)")] = None,
) -> None:
    """Выгрузить карточки в JSON или CSV (для CRM без адаптера)."""
    from sync.crm import CardStore, calls_db_path
    from sync.crm.export import to_csv, to_json

    if fmt not in ("json", "csv"):
        raise _fail("--format: json или csv", 2)
    with CardStore(calls_db_path()) as store:
        cards = store.cards(status)
    text = to_json(cards) if fmt == "json" else to_csv(cards)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        out.write_text(text, encoding="utf-8", newline="")
        err.print(f"Карточек: {len(cards)} → {out}")
