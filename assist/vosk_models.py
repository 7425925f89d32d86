"""Speech models: the catalogue of Russian vosk models, download (progress, resume, check), import.

Models live in ``data_dir()/models/vosk/NAME``. A download goes to ``NAME.zip.part`` first: an
interrupted one resumes with an HTTP Range request, and only a complete, verified archive is
unpacked into a temporary folder and renamed into place, so a half-installed model never appears.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from knowledge.settings import bundled_models_dir, data_dir

Progress = Callable[[int, int], None]  # (bytes done, bytes total; 0 when unknown)
MODEL_URL = "https://alphacephei.com/vosk/models/{name}.zip"


class SpeechModelError(Exception):
    """A speech model is missing, broken or cannot be fetched; the message names it."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    url: str
    size_mb: int  # approximate, for the user; the exact size comes from the server
    # alphacephei.com publishes no checksums and we could not fetch the archives here, so the
    # catalogue has None: the download is then checked by its size (Content-Length/Content-Range),
    # the CRC of every zip member and the model folder layout. Put a real sha256 here once known.
    sha256: str | None
    language: str
    note: str


CATALOGUE: dict[str, ModelInfo] = {m.name: m for m in (
    ModelInfo("vosk-model-small-ru-0.22", MODEL_URL.format(name="vosk-model-small-ru-0.22"), 45, None, "ru",
              "маленькая, потоковая, для ноутбука (~300 МБ памяти); WER 22.7 книги / 32.0 YouTube"),
    ModelInfo("vosk-model-ru-0.42", MODEL_URL.format(name="vosk-model-ru-0.42"), 1800, None, "ru",
              "большая, точнее (WER 11.1 / 19.5), нужно несколько ГБ памяти"),
)}
DEFAULT_MODEL = "vosk-model-small-ru-0.22"


def vosk_dir() -> Path:
    return data_dir() / "models" / "vosk"


def model_problems(folder: Path) -> list[str]:
    """What a vosk model folder lacks (empty when it looks like a model vosk can load)."""
    if not folder.is_dir():
        return ["папка не найдена"]
    missing = [p for p in ("am/final.mdl", "conf/mfcc.conf") if not (folder / p).is_file()]
    graph = folder / "graph"
    if not ((graph / "HCLG.fst").is_file() or ((graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file())):
        missing.append("graph/HCLG.fst или graph/HCLr.fst + graph/Gr.fst")
    return [f"нет {m}" for m in missing]


def check_model_dir(folder: Path) -> Path:
    """The folder if it really is a vosk model; else ``SpeechModelError`` naming what is missing."""
    problems = model_problems(folder)
    if problems:
        raise SpeechModelError(f"{folder}: не модель vosk: {', '.join(problems)}")
    return folder


def installed_models(root: Path | None = None) -> list[Path]:
    root = root or vosk_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and not model_problems(p))


def resolve_model(spec: str, root: Path | None = None) -> Path:
    """A model name (installed under the models folder) or a folder path → a checked model folder."""
    root = root or vosk_dir()
    path = Path(spec).expanduser()
    if path.is_dir():
        return check_model_dir(path)
    installed = root / spec
    if installed.is_dir():
        return check_model_dir(installed)
    bundled_root = bundled_models_dir()
    if bundled_root is not None:
        bundled = bundled_root / "vosk" / spec
        if bundled.is_dir():
            return check_model_dir(bundled)
        shipped = installed_models(bundled_root / "vosk")
        if spec == DEFAULT_MODEL and shipped:  # the admin bundled another Russian model: the default is unset
            return next((p for p in shipped if "-ru" in p.name), shipped[0])
    hint = f"sufler models download {spec}" if spec in CATALOGUE else "sufler models list"
    raise SpeechModelError(f"модель распознавания речи '{spec}' не найдена ({root}); установите: {hint}")


def _find_root(folder: Path) -> Path:
    """The model folder inside an unpacked archive: the folder itself or one level down."""
    if not model_problems(folder):
        return folder
    subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("__", "."))]
    if len(subdirs) == 1 and not model_problems(subdirs[0]):
        return subdirs[0]
    target = subdirs[0] if len(subdirs) == 1 else folder
    raise SpeechModelError(f"не модель vosk: {', '.join(model_problems(target))}")


def _install(unpacked: Path, dest: Path, name: str, source: str, sha256: str | None) -> Path:
    """Move a checked model folder into ``dest/NAME`` (a rename: all or nothing). ``name`` "" keeps the
    archive's own folder name."""
    root = _find_root(unpacked)
    target = dest / (name or root.name)
    if target.exists():
        raise SpeechModelError(f"{target}: модель с таким именем уже установлена")
    meta = {"source": source, "sha256": sha256, "installed_at": datetime.now(UTC).isoformat(timespec="seconds")}
    (root / "sufler-model.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    root.rename(target)
    return target


def _unpack(archive: Path, dest: Path, name: str, source: str, sha256: str | None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=dest) as tmp:
        try:
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise SpeechModelError(f"{source}: архив повреждён (ошибка CRC в {bad})")
                zf.extractall(tmp)  # zipfile drops absolute paths and ".." from member names
        except (zipfile.BadZipFile, EOFError) as exc:
            raise SpeechModelError(f"{source}: не zip-архив или архив повреждён ({exc})") from exc
        try:
            # files at the archive root: the model takes the archive's name
            unpacked = Path(tmp)
            return _install(unpacked, dest, name or ("" if model_problems(unpacked) else archive.stem), source,
                            sha256)
        except SpeechModelError as exc:
            raise SpeechModelError(f"{source}: {exc}") from exc


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def import_model(path: Path, dest: Path | None = None) -> Path:
    """Install a model from a folder (copied) or a zip archive; returns the installed folder."""
    dest = dest or vosk_dir()
    if path.is_file():
        return _unpack(path, dest, "", str(path), sha256_of(path))
    if not path.is_dir():
        raise SpeechModelError(f"{path}: нет такого файла или папки")
    check_model_dir(path)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".import-", dir=dest) as tmp:
        copy = Path(tmp) / path.resolve().name
        shutil.copytree(path, copy, ignore=shutil.ignore_patterns("sufler-model.json"))
        return _install(copy, dest, "", str(path), None)


def download_model(model: str | ModelInfo, dest: Path | None = None, progress: Progress | None = None) -> Path:
    """Fetch a catalogue model (resuming a partial download), verify it and install it."""
    import httpx

    if isinstance(model, str):
        if model not in CATALOGUE:
            raise SpeechModelError(f"неизвестная модель '{model}'; в каталоге: {', '.join(CATALOGUE)}")
        model = CATALOGUE[model]
    dest = dest or vosk_dir()
    if (dest / model.name).is_dir():
        return check_model_dir(dest / model.name)
    dest.mkdir(parents=True, exist_ok=True)
    part = dest / f"{model.name}.zip.part"
    try:
        total = _fetch(model.url, part, progress)
    except httpx.HTTPError as exc:
        done = part.stat().st_size if part.exists() else 0
        raise SpeechModelError(f"{model.url}: загрузка прервана на {done / 1e6:.1f} МБ ({exc}); "
                               "повторите команду, загрузка продолжится") from exc
    size = part.stat().st_size
    if total and size != total:
        raise SpeechModelError(f"{model.url}: получено {size} байт из {total}; повторите команду")
    digest = sha256_of(part)
    if model.sha256 and digest != model.sha256.lower():
        part.unlink()
        raise SpeechModelError(f"{model.url}: контрольная сумма не совпала (sha256 {digest}); файл удалён")
    try:
        installed = _unpack(part, dest, model.name, model.url, digest)
    except SpeechModelError:
        part.unlink(missing_ok=True)
        raise
    part.unlink()
    return installed


def _fetch(url: str, part: Path, progress: Progress | None) -> int:
    """Append the rest of ``url`` to ``part``; returns the full size (0 when the server does not say)."""
    import httpx as hx

    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    timeout = hx.Timeout(30.0, read=60.0)
    with hx.stream("GET", url, headers=headers, follow_redirects=True, timeout=timeout) as response:
        if response.status_code == 416 and have:  # nothing left to fetch: the part is complete
            return have
        if response.status_code == 206:
            start = int(response.headers.get("content-range", "bytes 0-").split()[1].split("-")[0])
            if start != have:
                raise SpeechModelError(f"{url}: сервер продолжил не с того места ({start} вместо {have})")
        elif response.status_code == 200:
            have = 0  # the server ignored the Range header: start over
        else:
            raise SpeechModelError(f"{url}: сервер ответил {response.status_code}")
        length = int(response.headers.get("content-length", 0))
        total = have + length if length else 0
        done = have
        with part.open("ab" if have else "wb") as f:
            for chunk in response.iter_bytes():  # as it arrives: a dropped line loses nothing received
                f.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    return total
