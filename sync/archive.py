"""Bundle archives: plain (uncompressed) tar. Reading checks every member explicitly before
anything is extracted (no absolute paths, no ``..``, no links or devices, sizes bounded), then
extracts with ``tarfile``'s ``data`` filter as a second line of defence."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from sync.errors import BundleRejectedError

MAX_MEMBERS = 50_000


def write_tar(source: Path, names: Iterable[str], dest: Path) -> None:
    """Pack ``source/<name>`` for each name into ``dest`` atomically (temp file, fsync, rename)."""
    tmp = dest.with_name(dest.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            path = source / name
            info = tarfile.TarInfo(name)
            info.size = path.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    fsync_file(tmp)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def member_problem(info: tarfile.TarInfo) -> str | None:
    """Why a member may not be extracted, or None."""
    name = info.name
    if info.issym() or info.islnk():
        return f"ссылка в архиве: {name[:120]!r}"
    if not (info.isfile() or info.isdir()):
        return f"особый файл в архиве: {name[:120]!r}"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or "\\" in name:
        return f"абсолютный путь в архиве: {name[:120]!r}"
    if ".." in PurePosixPath(name).parts:
        return f"выход за пределы папки в архиве: {name[:120]!r}"
    if "\x00" in name:
        return "недопустимое имя в архиве"
    return None


def list_members(path: Path, max_total: int) -> dict[str, tarfile.TarInfo]:
    """Every file member by name; rejects the whole archive on any unsafe member."""
    files: dict[str, tarfile.TarInfo] = {}
    total = 0
    try:
        with tarfile.open(path, "r:") as tar:
            for n, info in enumerate(tar):
                if n >= MAX_MEMBERS:
                    raise BundleRejectedError("слишком много файлов в архиве")
                problem = member_problem(info)
                if problem:
                    raise BundleRejectedError(problem)
                if info.isdir():
                    continue
                if info.name in files:
                    raise BundleRejectedError(f"файл повторяется в архиве: {info.name[:120]!r}")
                total += info.size
                if total > max_total:
                    raise BundleRejectedError("содержимое архива больше допустимого размера")
                files[info.name] = info
    except (tarfile.TarError, EOFError) as exc:
        raise BundleRejectedError(f"архив повреждён ({exc})") from exc
    return files


def read_member(path: Path, name: str, limit: int) -> bytes:
    try:
        with tarfile.open(path, "r:") as tar:
            info = tar.getmember(name)
            if info.size > limit or not info.isfile():
                raise BundleRejectedError(f"{name}: слишком большой или не файл")
            handle = tar.extractfile(info)
            if handle is None:
                raise BundleRejectedError(f"{name}: не читается")
            return handle.read(limit + 1)
    except KeyError as exc:
        raise BundleRejectedError(f"в пакете нет {name}") from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleRejectedError(f"архив повреждён ({exc})") from exc


def extract(path: Path, dest: Path, names: set[str]) -> None:
    """Extract the named (already checked) members into ``dest`` with the ``data`` filter."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with tarfile.open(path, "r:") as tar:
            members = [m for m in tar.getmembers() if m.name in names]
            for member in members:
                target = (root / member.name).resolve()
                if not target.is_relative_to(root):
                    raise BundleRejectedError(f"выход за пределы папки в архиве: {member.name[:120]!r}")
            tar.extractall(root, members=members, filter="data")
    except (tarfile.TarError, EOFError) as exc:
        raise BundleRejectedError(f"архив не распаковывается ({exc})") from exc
