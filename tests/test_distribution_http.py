"""Playbook channels over real HTTP (a local server in a thread), the `sufler kb` commands as a user
runs them, and the team mode where the admin's publish also fills a Qdrant server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.engine import KnowledgeBase
from knowledge.settings import Settings
from sync.apply import downloads_dir, pull, read_state
from sync.channel import LATEST, Pointer, parse_pointer, write_pointer
from sync.errors import DownloadError
from tests.cards_factory import complete_playbook
from tests.conftest import ROOT
from tests.support.distribution import (
    PASSPHRASE,
    Admin,
    ChannelServer,
    flip_byte,
    make_admin,
    now_minus,
    publish_version,
    read_members,
    repoint,
    trusting,
    write_members,
)
from tests.support.qdrant_rest import QdrantRestServer


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    return folder


@pytest.fixture
def server(site: Path) -> Iterator[ChannelServer]:
    with ChannelServer(site) as srv:
        yield srv


@pytest.fixture
def admin(tmp_path: Path) -> Admin:
    return make_admin(tmp_path / "keys")


@pytest.fixture
def desk(lemma_settings: Settings, admin: Admin) -> Settings:
    return trusting(lemma_settings, admin)


def run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SUFLER_HOME": str(home), "SUFLER_EMBEDDING__MODEL": "none", **env}
    return subprocess.run([sys.executable, "-m", "desktop.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=full_env, timeout=120)


def test_cli_keygen_publish_to_http_and_pull(tmp_path: Path, site: Path, server: ChannelServer) -> None:
    admin_home, desk_home = tmp_path / "admin", tmp_path / "desk"
    keys = tmp_path / "admin-keys"
    env = {"SUFLER_TEST_PASS": PASSPHRASE}
    made = run(["kb", "keygen", "--out", str(keys), "--passphrase-env", "SUFLER_TEST_PASS"], admin_home, **env)
    assert made.returncode == 0, made.stderr
    assert "trusted_keys" in made.stdout
    again = run(["kb", "keygen", "--out", str(keys), "--passphrase-env", "SUFLER_TEST_PASS"], admin_home, **env)
    assert again.returncode == 1 and "не перезаписан" in again.stderr
    root = complete_playbook(tmp_path / "kb")
    publish = ["kb", "publish", str(root), "--channel", server.url, "--key", str(keys),
               "--passphrase-env", "SUFLER_TEST_PASS", "--out", str(site)]
    wrong = run(publish, admin_home, SUFLER_TEST_PASS="wrong")
    assert wrong.returncode == 1 and "неверный пароль" in wrong.stderr
    published = run(publish, admin_home, **env)
    assert published.returncode == 0, published.stderr
    assert "Опубликована версия 3" in published.stdout and "bundles/3.tar" in published.stdout
    assert run(publish, admin_home, **env).returncode == 1  # version 3 is already in the channel

    pulled = run(["kb", "pull", "--channel", server.url, "--trust", str(keys)], desk_home)
    assert pulled.returncode == 0, pulled.stderr
    assert "Плейбук обновлён до версии 3: что нового" in pulled.stdout
    status = run(["kb", "status"], desk_home)
    assert "Активная версия: 3" in status.stdout and "высшая применённая: 3" in status.stdout
    assert run(["kb", "pull"], desk_home).stdout.startswith("Обновлений нет")  # flags were remembered
    found = run(["kb", "search", "у меня пять минут", "--json", "--limit", "1"], desk_home)
    assert found.returncode == 0 and '"no_time"' in found.stdout

    (root / "playbook.yaml").write_text((root / "playbook.yaml").read_text().replace("version: 3", "version: 4"))
    assert run(publish, admin_home, **env).returncode == 0
    bundle = site / "bundles" / "4.tar"
    members = read_members(bundle)
    members["manifest.sig"] = flip_byte(members["manifest.sig"])
    write_members(bundle, members)
    repoint(site, bundle)
    refused = run(["kb", "pull"], desk_home)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == "Ошибка: отклонено: подпись не совпадает (manifest.sig)"
    assert "Активная версия: 3" in run(["kb", "status"], desk_home).stdout
    built = run(["kb", "build", str(root)], desk_home)  # a local build still takes over, as before
    assert built.returncode == 0 and "kb rollback" in built.stderr
    assert "не активен" in run(["kb", "status"], desk_home).stdout
    back = run(["kb", "rollback"], desk_home)
    assert back.returncode == 0 and "версии 3" in back.stdout


def test_oversized_download_is_stopped(desk: Settings, admin: Admin, tmp_path: Path, site: Path,
                                       server: ChannelServer) -> None:
    published = publish_version(desk, tmp_path / "kb", server.url, admin, 3, out=site)
    desk.distribution.max_bundle_mb = 1
    pointer = parse_pointer((site / LATEST).read_bytes())
    write_pointer(site, Pointer(pointer.channel, 3, pointer.bundle, 50_000_000, pointer.sha256))
    with pytest.raises(DownloadError, match="больше допустимого"):
        pull(desk, server.url, embedder=None)
    write_pointer(site, pointer)
    server.behaviour.extra_bytes = 3_000_000  # the server sends more than the pointer says
    with pytest.raises(DownloadError, match="больше допустимого"):
        pull(desk, server.url, embedder=None)
    assert not any(downloads_dir(desk).glob("*.part"))
    assert read_state(desk).high_water == 0 and published.pointer.size < 1_000_000


def test_stalled_download_stops_then_resumes_with_range(desk: Settings, admin: Admin, tmp_path: Path,
                                                        site: Path, server: ChannelServer) -> None:
    published = publish_version(desk, tmp_path / "kb", server.url, admin, 3, out=site)
    desk.distribution.stall_timeout_seconds = 0.5
    half = published.pointer.size // 2 // 4096 * 4096
    server.behaviour.stall_after = half
    server.behaviour.stall_seconds = 5
    started = time.monotonic()
    with pytest.raises(DownloadError, match="перестал отдавать"):
        pull(desk, server.url, embedder=None)
    assert time.monotonic() - started < 4
    parts = list(downloads_dir(desk).glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == half > 0
    server.behaviour.stall_after = None
    result = pull(desk, server.url, embedder=None)
    assert result is not None and result.version == 3
    assert server.behaviour.ranges == [f"bytes={half}-"]
    assert not any(downloads_dir(desk).glob("*.part"))


def test_dropped_connection_and_slow_server(desk: Settings, admin: Admin, tmp_path: Path, site: Path,
                                            server: ChannelServer) -> None:
    publish_version(desk, tmp_path / "kb", server.url, admin, 3, out=site)
    server.behaviour.drop_after = 4096
    with pytest.raises(DownloadError, match="прервалась"):
        pull(desk, server.url, embedder=None)
    server.behaviour.drop_after = None
    server.behaviour.bytes_per_second = 20_000
    desk.distribution.download_deadline_seconds = 0.5
    with pytest.raises(DownloadError, match="дольше"):
        pull(desk, server.url, embedder=None)
    assert read_state(desk).high_water == 0
    server.behaviour.bytes_per_second = None
    desk.distribution.download_deadline_seconds = 60
    assert pull(desk, server.url, embedder=None) is not None
    assert server.behaviour.ranges and all(r != "bytes=0-" for r in server.behaviour.ranges)


@pytest.mark.filterwarnings("ignore:Payload indexes have no effect")
def test_team_mode_publish_fills_the_qdrant_server(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    with QdrantRestServer() as qdrant:
        desk.index.qdrant_url = qdrant.url
        channel = tmp_path / "channel"
        published = publish_version(desk, tmp_path / "kb", channel, admin, 3)
        assert published.server_collection.startswith("playbook-v3-")
        aliases = {a.alias_name: a.collection_name for a in qdrant.engine.get_aliases().aliases}
        assert aliases == {"playbook": published.server_collection}
        result = pull(desk, str(channel), embedder=None)  # the desktop finds version 3 there already
        assert result is not None
        assert {c.name for c in qdrant.engine.get_collections().collections} == {published.server_collection}
        kb = KnowledgeBase(desk)
        searcher = kb.searcher()
        assert searcher.index.meta.engine == "server"
        assert searcher.search("у меня пять минут", 1)[0].handles == ["no_time"]
        kb.close()


def test_child_process_pull_and_an_expired_bundle(desk: Settings, admin: Admin, tmp_path: Path,
                                                   sufler_home: Path) -> None:
    channel = tmp_path / "channel"
    publish_version(desk, tmp_path / "kb", channel, admin, 3, now=now_minus(40), expires_days=30)
    env = {"SUFLER_DISTRIBUTION__TRUSTED_KEYS": json.dumps([admin.line])}
    refused = run(["kb", "pull", "--channel", str(channel)], sufler_home, **env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().startswith("Ошибка: отклонено: срок действия версии 3 истёк")
    assert "\n" not in refused.stderr.strip()
    child_env = {**os.environ, "SUFLER_HOME": str(sufler_home), "SUFLER_EMBEDDING__MODEL": "none", **env}
    child = [sys.executable, "-m", "sync", "pull", str(channel)]
    proc = subprocess.run(child, capture_output=True, text=True, cwd=ROOT, env=child_env, timeout=120)
    assert proc.returncode == 1 and "срок действия" in proc.stderr and proc.stdout == ""
    shutil.rmtree(channel)
    publish_version(desk, tmp_path / "kb", channel, admin, 4)
    proc = subprocess.run(child, capture_output=True, text=True, cwd=ROOT, env=child_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["version"] == 4 and answer["headline"] == "Плейбук обновлён до версии 4: что нового"
    assert read_state(desk).high_water == 4
