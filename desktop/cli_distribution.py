"""``sufler kb keygen/publish/pull/rollback/status``: signed playbook updates from the command line.

``register`` adds the commands to the ``kb`` group of ``desktop/cli.py`` (called at its bottom, so
it works both as ``desktop.cli`` and as ``python -m desktop.cli``). Refusals raise ``SyncError``;
``main()`` prints them on one line and exits 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from knowledge.index import Progress as ProgressFn
from knowledge.settings import load_settings, save_settings
from sync.errors import KeyFileError, SyncError

err = Console(stderr=True, highlight=False)
ProgressFactory = Callable[[], tuple[Progress, ProgressFn]]
_progress: ProgressFactory


def register(kb_app: typer.Typer, progress: ProgressFactory, stages: dict[str, str]) -> None:
    global _progress
    _progress = progress
    stages.update({"download": "Загрузка пакета", "verify": "Проверка подписи и файлов"})
    kb_app.command("keygen")(kb_keygen)
    kb_app.command("publish")(kb_publish)
    kb_app.command("pull")(kb_pull)
    kb_app.command("rollback")(kb_rollback)
    kb_app.command("status")(kb_status)


def recover_at_startup() -> None:
    """Start-up recovery for every command: clean staging, repair the active version's index."""
    from sync.recovery import startup

    settings = load_settings()
    if not settings.state_path().exists() and not settings.staging_dir().exists():
        return
    for notice in startup(settings):
        err.print(f"[yellow]{notice}[/]")


def _passphrase(env: str | None, confirm: bool) -> str:
    if env:
        value = os.environ.get(env)
        if value is None:
            raise KeyFileError(f"переменная окружения {env} с паролем ключа не задана")
        return value
    return str(typer.prompt("Пароль ключа", hide_input=True, confirmation_prompt=confirm))


PassEnv = Annotated[str | None, typer.Option("--passphrase-env", metavar="VAR",
                                             help="Взять пароль ключа из переменной окружения")]


def kb_keygen(out: Annotated[Path, typer.Option("--out", help="Папка для пары ключей")],
              passphrase_env: PassEnv = None) -> None:
    """Создать пару ключей Ed25519 для подписи плейбука (закрытый ключ — под паролем)."""
    from sync.keys import generate

    files = generate(out, _passphrase(passphrase_env, confirm=True))
    typer.echo(f"Ключ создан: {files.key_id}")
    typer.echo(f"  закрытый (храните у себя, под паролем): {files.private}")
    typer.echo(f"  открытый: {files.public}")
    typer.echo("На компьютерах менеджеров добавьте в settings.toml, раздел [distribution]:")
    typer.echo(f'  trusted_keys = ["{files.line}"]')


def kb_publish(
    directory: Annotated[Path, typer.Argument(help="Папка плейбука")],
    channel: Annotated[str | None, typer.Option("--channel", help="Папка канала или адрес http(s)")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="Папка с закрытым ключом (kb keygen)")] = None,
    passphrase_env: PassEnv = None,
    out: Annotated[Path | None, typer.Option("--out", help="Для http(s): куда записать файлы для загрузки")]
    = None,
    expires_days: Annotated[int | None, typer.Option("--expires-days", min=1, max=3650,
                                                     help="Срок действия, дней (по умолчанию 30)")] = None,
    channel_name: Annotated[str | None, typer.Option("--channel-name", help="Имя канала в манифесте")] = None,
    min_app_version: Annotated[str | None, typer.Option("--min-app-version")] = None,
) -> None:
    """Опубликовать подписанную версию плейбука в канал."""
    from sync.keys import load_private
    from sync.publish import publish

    settings = load_settings()
    target = channel or settings.distribution.channel
    if not target:
        raise SyncError("канал не задан: укажите --channel ПАПКА|URL")
    if key is None:
        raise SyncError("укажите --key ПАПКА с закрытым ключом (sufler kb keygen)")
    private = load_private(key, _passphrase(passphrase_env, confirm=False))
    progress, report = _progress()
    with progress:
        done = publish(settings, directory.resolve(), target, private, channel_name=channel_name, out=out,
                       expires_days=expires_days, min_app_version=min_app_version, progress=report)
    model = done.model_id or "без векторов (поиск по леммам)"
    typer.echo(f"Опубликована версия {done.version} канала «{done.channel_name}»: {done.cards} карточек, "
               f"{done.chunks} фрагментов, модель {model}, ключ {done.key_id}, действует до {done.expires}")
    if done.uploads:
        typer.echo(f"Загрузите на {target} (сначала пакет, затем указатель):")
        for path in done.uploads:
            typer.echo(f"  {path}")
    else:
        typer.echo(f"  {done.bundle}")
    if done.server_collection:
        typer.echo(f"  сервер Qdrant: коллекция {done.server_collection} за псевдонимом "
                   f"{settings.index.collection}")


def kb_pull(
    channel: Annotated[str | None, typer.Option("--channel", help="Папка канала или адрес http(s)")] = None,
    trust: Annotated[Path | None, typer.Option("--trust", help="Папка с открытыми ключами, которым доверять")]
    = None,
) -> None:
    """Получить новую версию плейбука из канала, проверить подпись и применить."""
    from sync.apply import pull
    from sync.keys import load_public_folder, public_line

    settings = load_settings()
    progress, report = _progress()
    with progress:
        result = pull(settings, channel, trust, progress=report)
    _remember(channel, [public_line(k) for k in load_public_folder(trust)] if trust else [])
    if result is None:
        typer.echo("Обновлений нет: применена последняя версия плейбука.")
        return
    typer.echo(result.headline())
    for line in result.changes.lines():
        typer.echo(line)
    previous = f"; предыдущая версия {result.previous} сохранена (sufler kb rollback)" if result.previous else ""
    typer.echo(f"({result.cards} карточек, {result.vectors}, действует до {result.expires}{previous})")


def _remember(channel: str | None, keys: list[str]) -> None:
    """Flags given to a pull become the defaults for the next one."""
    if not channel and not keys:
        return
    settings = load_settings()
    if channel:
        settings.distribution.channel = channel
    for line in keys:
        if line not in settings.distribution.trusted_keys:
            settings.distribution.trusted_keys.append(line)
    save_settings(settings)


def kb_rollback() -> None:
    """Вернуть предыдущую версию плейбука (она хранится вместе с индексом)."""
    from sync.apply import rollback

    state, changes = rollback(load_settings())
    version = state.active.version if state.active else "?"
    typer.echo(f"Плейбук возвращён к версии {version}: что изменилось")
    for line in changes.lines():
        typer.echo(line)


def kb_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Версии плейбука на этом компьютере: активная, предыдущая, высшая применённая, срок действия."""
    from sync.apply import expired, read_state

    settings = load_settings()
    state = read_state(settings)
    active, previous = state.active, state.previous
    data = {
        "active": active.version if active else None, "channel": state.channel or None,
        "channel_target": settings.distribution.channel or None,
        "previous": previous.version if previous else None, "high_water": state.high_water,
        "expires": active.expires if active else None, "expired": expired(active) if active else False,
        "cards": active.cards if active else None, "model": active.model_id if active else None,
        "playbook": None if active else str(settings.playbook_dir()),
    }
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=1))
        return
    if active is None:
        typer.echo(f"Плейбук из канала не активен; используется папка {settings.playbook_dir()}")
    else:
        typer.echo(f"Активная версия: {active.version} (канал «{state.channel}», {active.cards} карточек, "
                   f"{active.model_id or 'поиск по леммам'})")
        typer.echo(f"  действует до: {active.expires}" + ("  — срок истёк!" if data["expired"] else ""))
    typer.echo(f"  предыдущая: {previous.version if previous else 'нет'}")
    typer.echo(f"  высшая применённая: {state.high_water}")
    typer.echo(f"  канал: {settings.distribution.channel or 'не задан'}")
