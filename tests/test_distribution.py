"""Signed playbook bundles through a folder channel: what is accepted, what is refused, and that a
refusal changes nothing (active version, high-water mark, index folders)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from knowledge.engine import KnowledgeBase
from knowledge.settings import Settings
from sync.apply import apply_file, deactivate, pull, read_state, rollback
from sync.archive import member_problem
from sync.channel import LATEST, parse_pointer
from sync.errors import BundleExpiredError, BundleRejectedError, PublishError, StateError, SyncError
from sync.install import open_version
from sync.recovery import startup
from sync.state import active_bundle, index_root
from tests.cards_factory import write_card
from tests.support.distribution import (
    Admin,
    FakeEmbedder,
    flip_byte,
    make_admin,
    now_minus,
    publish_version,
    read_members,
    repoint,
    trusting,
    write_members,
)


@pytest.fixture
def admin(tmp_path: Path) -> Admin:
    return make_admin(tmp_path / "keys")


@pytest.fixture
def desk(lemma_settings: Settings, admin: Admin) -> Settings:
    return trusting(lemma_settings, admin)


def snapshot(settings: Settings) -> tuple[object, ...]:
    state = read_state(settings)
    folders = sorted(p.name for p in index_root(settings).iterdir()) if index_root(settings).exists() else []
    cached = sorted(p.name for p in settings.bundles_dir().iterdir()) if settings.bundles_dir().exists() else []
    return state.active.version if state.active else None, state.high_water, folders, cached


def staging_leftovers(settings: Settings) -> list[str]:
    staging = settings.staging_dir()
    return [p.name for p in staging.iterdir() if p.name != "downloads"] if staging.exists() else []


def applied(settings: Settings, tmp_path: Path, admin: Admin, version: int = 3) -> Path:
    channel = tmp_path / "channel"
    publish_version(settings, tmp_path / "kb", channel, admin, version)
    assert pull(settings, str(channel), embedder=None) is not None
    return channel


def test_publish_pull_search_and_whats_new(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    channel = applied(desk, tmp_path, admin, 3)
    state = read_state(desk)
    assert state.active is not None and state.active.version == 3 and state.high_water == 3
    kb = KnowledgeBase(desk)
    assert kb.bundle is not None and kb.playbook_dir == (index_root(desk) / state.active.folder / "cards")
    assert kb.searcher().search("у меня пять минут", 1)[0].handles == ["no_time"]
    kb.close()
    root = tmp_path / "kb"
    write_card(root, "facts/warranty.md", id="fact-warranty", kind="fact", title="Гарантия три года",
               body="Гарантия на оборудование три года.")
    (root / "cases" / "hvac.md").unlink()
    publish_version(desk, root, channel, admin, 4)
    result = pull(desk, str(channel), embedder=None)
    assert result is not None and result.version == 4 and result.previous == 3
    assert result.headline() == "Плейбук обновлён до версии 4: что нового"
    assert result.changes.added == ["Гарантия три года"] and result.changes.removed == ["Кейс: вентиляция склада"]
    assert pull(desk, str(channel), embedder=None) is None  # nothing newer
    kb = KnowledgeBase(desk)
    assert kb.searcher().search("какая гарантия на оборудование", 1)[0].card_id == "fact-warranty"
    kb.close()
    assert staging_leftovers(desk) == []


@pytest.mark.parametrize("member", ["cards/playbook.yaml", "cards/answers/price_too_high.md", "chunks.json",
                                    "manifest.json", "manifest.sig"])
def test_one_changed_byte_is_rejected_and_nothing_changes(desk: Settings, admin: Admin, tmp_path: Path,
                                                          member: str) -> None:
    channel = applied(desk, tmp_path, admin, 3)
    published = publish_version(desk, tmp_path / "kb", channel, admin, 4)
    before = snapshot(desk)
    members = read_members(published.bundle)
    members[member] = flip_byte(members[member])
    write_members(published.bundle, members)
    repoint(channel, published.bundle)
    with pytest.raises(BundleRejectedError) as info:
        pull(desk, str(channel), embedder=None)
    assert "\n" not in str(info.value) and str(info.value).startswith("отклонено: ")
    if member == "manifest.sig" or member == "manifest.json":
        assert "подпись не совпадает" in str(info.value) or "manifest.json" in str(info.value)
    else:
        assert member in str(info.value)
    assert snapshot(desk) == before
    assert staging_leftovers(desk) == []


def test_a_byte_changed_in_the_raw_archive_is_rejected(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    channel = applied(desk, tmp_path, admin, 3)
    published = publish_version(desk, tmp_path / "kb", channel, admin, 4)
    before = snapshot(desk)
    data = bytearray(published.bundle.read_bytes())
    data[len(data) // 3] ^= 0x20
    published.bundle.write_bytes(bytes(data))
    with pytest.raises(SyncError):  # first the pointer's hash, then, with a matching pointer, the manifest
        pull(desk, str(channel), embedder=None)
    repoint(channel, published.bundle)
    with pytest.raises(BundleRejectedError):
        pull(desk, str(channel), embedder=None)
    assert snapshot(desk) == before


def test_older_valid_version_is_rejected(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    applied(desk, tmp_path, admin, 3)
    old_channel = tmp_path / "old-channel"
    old = publish_version(desk, tmp_path / "kb", old_channel, admin, 2)
    before = snapshot(desk)
    with pytest.raises(BundleRejectedError, match="старше уже применённой 3"):
        pull(desk, str(old_channel), embedder=None)
    with pytest.raises(BundleRejectedError, match="не новее уже применённой 3"):
        apply_file(desk, old.bundle, embedder=None)
    repoint(old_channel, old.bundle, version=5)  # a pointer that lies about the version
    with pytest.raises(BundleRejectedError, match=r"latest\.json называет версию 5"):
        pull(desk, str(old_channel), embedder=None)
    assert snapshot(desk) == before


def test_expired_bundle_is_not_applied_and_the_user_is_told(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    publish_version(desk, tmp_path / "kb", channel, admin, 3, now=now_minus(40), expires_days=30)
    with pytest.raises(BundleExpiredError, match="срок действия версии 3 истёк"):
        pull(desk, str(channel), embedder=None)
    assert snapshot(desk)[:2] == (None, 0)


def test_manifest_and_files_from_different_versions_are_rejected(desk: Settings, admin: Admin,
                                                                 tmp_path: Path) -> None:
    channel = applied(desk, tmp_path, admin, 3)
    v4 = read_members(publish_version(desk, tmp_path / "kb", tmp_path / "other", admin, 4).bundle)
    published = publish_version(desk, tmp_path / "kb", channel, admin, 5)
    members = read_members(published.bundle)
    members["cards/playbook.yaml"] = v4["cards/playbook.yaml"]  # version 4's file under version 5's manifest
    write_members(published.bundle, members)
    repoint(channel, published.bundle)
    before = snapshot(desk)
    with pytest.raises(BundleRejectedError, match="SHA-256 не совпадает"):
        pull(desk, str(channel), embedder=None)
    v4["manifest.json"], v4["manifest.sig"] = members["manifest.json"], members["manifest.sig"]
    write_members(published.bundle, v4)  # version 5's manifest over version 4's files
    repoint(channel, published.bundle)
    with pytest.raises(BundleRejectedError, match="не совпадает"):
        pull(desk, str(channel), embedder=None)
    assert snapshot(desk) == before


def test_extra_file_in_the_bundle_is_rejected(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    published = publish_version(desk, tmp_path / "kb", tmp_path / "channel", admin, 3)
    members = read_members(published.bundle)
    members["cards/answers/extra.md"] = b"---\nid: extra\n---\n"
    write_members(published.bundle, members)
    with pytest.raises(BundleRejectedError, match="лишний файл"):
        apply_file(desk, published.bundle, embedder=None)


def test_bundle_for_another_channel_is_rejected(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    publish_version(desk, tmp_path / "kb", channel, admin, 3, channel_name="beta")
    with pytest.raises(BundleRejectedError, match="для канала «beta»"):
        pull(desk, str(channel), embedder=None)
    assert snapshot(desk)[:2] == (None, 0)


def test_unknown_and_revoked_keys_are_rejected(lemma_settings: Settings, admin: Admin, tmp_path: Path) -> None:
    stranger = make_admin(tmp_path / "stranger")
    second = make_admin(tmp_path / "second")
    settings = trusting(lemma_settings, admin, second)  # several keys may be trusted
    channel = tmp_path / "channel"
    publish_version(settings, tmp_path / "kb", channel, stranger, 3)
    with pytest.raises(BundleRejectedError, match=f"ключ {stranger.key_id} не входит в доверенные"):
        pull(settings, str(channel), embedder=None)
    shutil.rmtree(channel)
    publish_version(settings, tmp_path / "kb", channel, second, 4)
    trusting(settings, admin, second, revoked=(second.key_id,))
    with pytest.raises(BundleRejectedError, match=f"ключ {second.key_id} отозван"):
        pull(settings, str(channel), embedder=None)
    assert snapshot(settings)[:2] == (None, 0)
    trusting(settings, admin, second)
    assert pull(settings, str(channel), embedder=None) is not None  # the second trusted key works


def _with_member(bundle: Path, info: tarfile.TarInfo, data: bytes = b"") -> None:
    members = read_members(bundle)
    with tarfile.open(bundle, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, body in members.items():
            item = tarfile.TarInfo(name)
            item.size = len(body)
            archive.addfile(item, io.BytesIO(body))
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data) if data else None)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "device"])
def test_unsafe_archive_members_are_rejected_and_nothing_is_written_outside(desk: Settings, admin: Admin,
                                                                            tmp_path: Path, kind: str) -> None:
    published = publish_version(desk, tmp_path / "kb", tmp_path / "channel", admin, 3)
    target = tmp_path / "escaped.txt"
    info = tarfile.TarInfo("cards/x")
    data = b"owned"
    if kind == "dotdot":
        info = tarfile.TarInfo("cards/../../../../escaped.txt")
    elif kind == "absolute":
        info = tarfile.TarInfo(str(target))
    elif kind == "symlink":
        info.type, info.linkname, data = tarfile.SYMTYPE, str(target), b""
    elif kind == "hardlink":
        info.type, info.linkname, data = tarfile.LNKTYPE, "manifest.json", b""
    else:
        info.type, data = tarfile.CHRTYPE, b""
    _with_member(published.bundle, info, data)
    before = set(tmp_path.rglob("*"))
    with pytest.raises(BundleRejectedError, match="в архиве"):
        apply_file(desk, published.bundle, embedder=None)
    assert not target.exists()
    new = set(tmp_path.rglob("*")) - before
    assert all(p.is_relative_to(desk.staging_dir()) or p.name == "playbook-apply.lock" for p in new), new
    assert staging_leftovers(desk) == []


def test_member_checks() -> None:
    ok = tarfile.TarInfo("cards/a.md")
    assert member_problem(ok) is None
    for name in ("/etc/passwd", "../x", "cards/../../x", "C:/x", "cards\\..\\x"):
        assert member_problem(tarfile.TarInfo(name)), name


def test_broken_index_folder_is_rebuilt_from_the_cached_bundle(desk: Settings, admin: Admin,
                                                               tmp_path: Path) -> None:
    applied(desk, tmp_path, admin, 3)
    bundle = active_bundle(desk)
    assert bundle is not None
    for path in (bundle.folder / "shard").rglob("*"):
        if path.is_file() and path.stat().st_size > 0:
            path.write_bytes(b"\x00garbage\xff" * 16)
    (desk.staging_dir() / "apply-leftover").mkdir(parents=True)  # what a crash mid-apply leaves
    notices = startup(desk, embedder=None)
    assert any("восстановлен из сохранённого пакета" in n for n in notices), notices
    fresh = active_bundle(desk)
    assert fresh is not None and fresh.version == 3 and fresh.folder != bundle.folder
    assert not bundle.folder.exists() and staging_leftovers(desk) == []
    index = open_version(desk, fresh.folder)
    assert index.meta.cards == 20
    index.close()
    (fresh.folder / "meta.json").unlink()  # meta.json deleted: the search repairs by itself too
    kb = KnowledgeBase(desk)
    assert kb.searcher().search("это дорого", 1)[0].handles == ["price_too_high"]
    assert any("повреждён" in n.text for n in kb.notices)
    kb.close()
    assert read_state(desk).active is not None


def test_rollback_and_local_build(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    with pytest.raises(StateError):
        rollback(desk)
    channel = applied(desk, tmp_path, admin, 3)
    publish_version(desk, tmp_path / "kb", channel, admin, 4)
    pull(desk, str(channel), embedder=None)
    state, _changes = rollback(desk)
    assert state.active is not None and state.active.version == 3
    assert state.previous is not None and state.previous.version == 4 and state.high_water == 4
    assert pull(desk, str(channel), embedder=None) is None  # 4 is not re-applied from the channel
    assert KnowledgeBase(desk).playbook().version == 3
    assert deactivate(desk)  # `kb build` of a local folder takes over
    assert active_bundle(desk) is None
    state, _ = rollback(desk)
    assert state.active is not None and state.active.version == 3


def test_same_model_uses_the_bundle_vectors_another_model_re_embeds(desk: Settings, admin: Admin,
                                                                    tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    publisher = FakeEmbedder()
    published = publish_version(desk, tmp_path / "kb", channel, admin, 3, embedder=publisher)
    manifest = json.loads(read_members(published.bundle)["manifest.json"])
    assert manifest["embedding"] == {"model_id": "fake-model", "dim": 16}
    same = FakeEmbedder()
    result = pull(desk, str(channel), embedder=same)
    assert result is not None and result.vectors == "векторы из пакета" and same.encoded == 0
    other = FakeEmbedder("other-model", 8)
    publish_version(desk, tmp_path / "kb", channel, admin, 4, embedder=publisher)
    result = pull(desk, str(channel), embedder=other)
    assert result is not None and "other-model" in result.vectors and other.encoded > 0
    row = read_state(desk).active
    assert row is not None and (row.model_id, row.dim) == ("other-model", 8)


def test_publish_refusals(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    publish_version(desk, tmp_path / "kb", channel, admin, 3)
    with pytest.raises(PublishError, match="не больше опубликованной"):
        publish_version(desk, tmp_path / "kb", channel, admin, 3)
    (tmp_path / "kb" / "answers" / "no_time.md").unlink()
    with pytest.raises(PublishError, match="ошибок"):
        publish_version(desk, tmp_path / "kb", channel, admin, 4)
    assert parse_pointer((channel / LATEST).read_bytes()).version == 3


def test_bundle_for_a_newer_app_is_rejected(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    publish_version(desk, tmp_path / "kb", channel, admin, 3, min_app_version="99.0")
    with pytest.raises(BundleRejectedError, match=r"нужна версия Суфлёра не ниже 99\.0"):
        pull(desk, str(channel), embedder=None)


def test_manifest_parser_refuses_garbage_without_crashing(desk: Settings, admin: Admin, tmp_path: Path) -> None:
    import contextlib
    import random

    from sync.manifest import parse_manifest

    published = publish_version(desk, tmp_path / "kb", tmp_path / "channel", admin, 3)
    raw = read_members(published.bundle)["manifest.json"]
    assert parse_manifest(raw).version == 3
    rng = random.Random(1)
    for _ in range(400):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            data[pos] = rng.choice(b'{}[]":,0123456789-abc\\ \x00\xff')
        with contextlib.suppress(BundleRejectedError):
            parse_manifest(bytes(data))
    for junk in (b"", b"[]", b"null", b'{"format": 1}', b"\xff\xfe", b"[" * 100_000):
        with pytest.raises(BundleRejectedError):
            parse_manifest(junk)
