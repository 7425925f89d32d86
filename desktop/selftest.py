"""``sufler --self-test``: a headless check that a build (or a checkout) really works on this machine.

It runs with a fresh temporary profile (``SUFLER_HOME`` in a temp folder, every other ``SUFLER_*``
setting dropped), so the user's data is never touched and nothing left from an earlier run helps:
the bundled playbook is loaded and indexed, a search for «дорого» must find a price objection card, a
demo call is replayed through the call engine (at least one hint, some checklist ticks), vosk and its
native library load (and a bundled speech model recognises a bundled WAV), the audio and keyring
libraries load, and, when Qt is part of the build, the app's modules import on the offscreen platform.
One line per check with its time; exit code 1 on any failure.

Run it from a checkout with ``python -m desktop.selftest``. The built app runs it as ``sufler --self-test``
(``packaging/sufler_entry.py``). Bundled models: ``models/vosk/NAME`` and ``models/embeddings/NAME`` in
the build's data folder (``SUFLER_BUNDLED_MODELS`` names another one); see ``use_bundled_models``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.settings import bundled_models_dir

if TYPE_CHECKING:
    from knowledge.engine import KnowledgeBase

BUNDLED_ENV = "SUFLER_BUNDLED_MODELS"
SELFTEST_WAV = "selftest/speech.wav"  # inside the build's data folder, shipped with --selftest-wav
DEMO_CALL = "demo-price.jsonl"
PRICE_CATEGORY = "price_too_high"


class CheckFailed(Exception):
    """A check did not pass; the message says what was expected and what came out."""


class Skipped(Exception):
    """The check does not apply here (say, no speech model in the build)."""


@dataclass
class Outcome:
    name: str
    status: str  # "OK", "FAIL", "SKIP"
    seconds: float
    detail: str


def data_root() -> Path:
    """Where the build keeps its data (PyInstaller's folder), or the checkout's root."""
    frozen = getattr(sys, "_MEIPASS", None)
    return Path(frozen) if frozen else Path(__file__).resolve().parent.parent


def _settings_file_value(section: str, key: str) -> object:
    from knowledge.settings import settings_path

    try:
        data = tomllib.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    part = data.get(section)
    return part.get(key) if isinstance(part, dict) else None


def use_bundled_models() -> dict[str, str]:
    """Point the settings at the models shipped with the build, as defaults only.

    A bundled model is used when neither the environment nor ``settings.toml`` names a model and the
    default one is not installed in the user's models folder; it is passed as a ``SUFLER_*`` variable of
    this process, so nothing is written. Returns the variables set.
    """
    root = bundled_models_dir()
    if root is None or not root.is_dir():
        return {}
    done: dict[str, str] = {}
    # Speech models need nothing here: assist.vosk_models.resolve_model looks in the bundled folder.
    embeddings = root / "embeddings"
    folders = sorted(p for p in embeddings.iterdir() if p.is_dir()) if embeddings.is_dir() else []
    if (folders and "SUFLER_EMBEDDING__MODEL" not in os.environ
            and _settings_file_value("embedding", "model") is None
            and importlib.util.find_spec("sentence_transformers") is not None):
        done["SUFLER_EMBEDDING__MODEL"] = str(folders[0])
    os.environ.update(done)
    return done


class SelfTest:
    def __init__(self, demo: Path | None, wav: Path | None, out: Callable[[str], None]) -> None:
        self.demo = demo
        self.wav = wav
        self.out = out
        self.outcomes: list[Outcome] = []
        self.kb: KnowledgeBase | None = None

    def run(self, name: str, check: Callable[[], str]) -> None:
        start = time.monotonic()
        try:
            status, detail = "OK", check()
        except Skipped as exc:
            status, detail = "SKIP", str(exc)
        except CheckFailed as exc:
            status, detail = "FAIL", str(exc)
        except Exception as exc:  # any error is a failed check, reported on its line
            status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
        outcome = Outcome(name, status, time.monotonic() - start, detail)
        self.outcomes.append(outcome)
        self.out(f"{outcome.status:<4} {outcome.seconds:6.2f} s  {name}: {detail}")

    # -- checks ------------------------------------------------------------------------------
    def resources(self) -> str:
        from knowledge.settings import RESOURCES

        needed = ["kb/playbook.yaml", "taxonomy.yaml", "detector"]
        missing = [n for n in needed if not (RESOURCES / n).exists()]
        if missing:
            raise CheckFailed(f"{RESOURCES}: нет {', '.join(missing)}")
        demos = sorted((RESOURCES / "demo").glob("*.jsonl"))
        return f"{RESOURCES} (демо-звонков: {len(demos)})"

    def playbook(self) -> str:
        from knowledge.engine import KnowledgeBase
        from knowledge.settings import load_settings

        kb = KnowledgeBase(load_settings())
        self.kb = kb
        playbook = kb.playbook()
        if not playbook.cards:
            raise CheckFailed(f"{kb.playbook_dir}: в плейбуке нет карточек")
        return f"{len(playbook.cards)} карточек из {kb.playbook_dir}"

    def embedder(self) -> str:
        kb = self._kb()
        _embedder, mode = kb.embedder()
        if not mode.hybrid:
            raise CheckFailed(f"смысловая модель не загрузилась: {mode.describe()}")
        return mode.describe()

    def index(self) -> str:
        kb = self._kb()
        searcher = kb.searcher()
        notes = "; ".join(n.text for n in kb.notices)
        mode = "гибридный" if searcher.hybrid else "только леммы"
        return f"{mode}, {kb.settings.index_dir()}" + (f" ({notes})" if notes else "")

    def search(self) -> str:
        results = self._kb().searcher().search("дорого", limit=3)
        if not results:
            raise CheckFailed("поиск «дорого» ничего не нашёл")
        top = results[0]
        if top.kind != "objection" or PRICE_CATEGORY not in top.handles:
            raise CheckFailed(f"первая карточка «{top.title}» ({top.kind}, {', '.join(top.handles)}), "
                              f"ожидалось возражение {PRICE_CATEGORY}")
        return f"«{top.title}» ({top.card_id}, {top.score:.3f})"

    def call(self) -> str:
        from assist.analysis import CallAnalyzer
        from assist.transcript import read_transcript
        from knowledge.settings import RESOURCES

        demo = self.demo or RESOURCES / "demo" / DEMO_CALL
        if not demo.is_file():
            raise CheckFailed(f"{demo}: нет демо-звонка")
        transcript = read_transcript(demo)
        result = CallAnalyzer(self._kb()).analyze(transcript)
        hints = result["hints"]
        ticked = [k for k, v in result["checklist"].items() if v]
        if not hints:
            raise CheckFailed(f"{demo.name}: ни одной подсказки")
        if not ticked:
            raise CheckFailed(f"{demo.name}: в чек-листе ничего не отмечено")
        if demo.name == DEMO_CALL and not any(h["category"] == PRICE_CATEGORY for h in hints):
            raise CheckFailed(f"{demo.name}: нет подсказки на «дорого» ({[h['category'] for h in hints]})")
        first = hints[0]
        return (f"{demo.name}: подсказок {len(hints)} (первая {first['category']} на {first['evidence_at']:.1f} с), "
                f"чек-лист {len(ticked)} из {len(result['checklist'])}")

    def vosk_library(self) -> str:
        import vosk

        vosk.SetLogLevel(-1)
        library = Path(vosk.__file__).parent
        names = [p.name for p in library.iterdir() if p.name.startswith("libvosk")]
        return f"libvosk загружена ({', '.join(names) or library})"

    def speech(self) -> str:
        from assist.speech import load_model
        from assist.vosk_models import SpeechModelError, resolve_model
        from knowledge.settings import load_settings

        try:
            folder = resolve_model(load_settings().speech.model)
        except SpeechModelError as exc:
            raise Skipped(f"модель речи не встроена ({exc})") from exc
        model = load_model(folder)
        wav = self.wav or data_root() / SELFTEST_WAV
        if not wav.is_file():
            import numpy as np
            import vosk

            recognizer = vosk.KaldiRecognizer(model, 16000.0)
            recognizer.AcceptWaveform(np.zeros(16000, dtype=np.int16).tobytes())
            recognizer.FinalResult()
            return f"{folder.name} загружена (WAV для проверки не встроен)"
        from assist.audio import WavFileSource
        from assist.speech import SpeechEngine

        engine = SpeechEngine(model, WavFileSource(wav))
        engine.start()
        texts = [r.text for r in engine if r.kind == "final" and r.text]
        if engine.failures:
            raise CheckFailed("; ".join(engine.failures.values()))
        if not texts:
            raise CheckFailed(f"{folder.name}: в {wav.name} ничего не распознано")
        return f"{folder.name}: «{' '.join(texts)[:60]}»"

    def audio(self) -> str:
        import numpy as np
        import soxr

        out = soxr.resample(np.zeros(4800, dtype=np.float32), 48000, 16000)
        if len(out) != 1600:
            raise CheckFailed(f"soxr: {len(out)} отсчётов вместо 1600")
        try:
            import sounddevice
        except OSError as exc:
            raise CheckFailed(f"PortAudio не загружается: {exc}") from exc
        # soundcard connects to the sound server when imported: check only that its C declarations are there
        spec = importlib.util.find_spec("soundcard")
        if spec is None or spec.origin is None:
            raise CheckFailed("нет пакета soundcard")
        header = {"win32": "mediafoundation.py.h", "darwin": "coreaudio.py.h"}.get(sys.platform, "pulseaudio.py.h")
        if not (Path(spec.origin).parent / header).is_file():
            raise CheckFailed(f"soundcard: нет {header} рядом с {spec.origin}")
        return f"soxr {soxr.__version__}, {sounddevice.get_portaudio_version()[1]}, soundcard"

    def keyring(self) -> str:
        import keyring

        platform_backend = {"win32": "keyring.backends.Windows", "darwin": "keyring.backends.macOS"}.get(
            sys.platform, "keyring.backends.SecretService")
        importlib.import_module(platform_backend)
        backend = keyring.get_keyring()
        return f"{platform_backend} есть; сейчас {type(backend).__module__}.{type(backend).__name__}"

    def qt(self) -> str:
        if importlib.util.find_spec("PySide6") is None:
            raise Skipped("PySide6 нет в этой сборке")
        if importlib.util.find_spec("desktop.app") is None:
            raise Skipped("приложения desktop.app нет в этой сборке")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QLibraryInfo
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication(["sufler-selftest"])
        importlib.import_module("desktop.app.main")
        importlib.import_module("desktop.app.tray")
        platforms = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
        plugins = sorted(p.stem.removeprefix("libq").removeprefix("q") for p in platforms.glob("*q*"))
        wanted = {"linux": "xcb", "win32": "windows", "darwin": "cocoa"}.get(sys.platform, "")
        if wanted and wanted not in plugins:
            raise CheckFailed(f"нет платформенного модуля Qt {wanted} в {platforms} ({plugins})")
        assert isinstance(app, QApplication)
        return f"Qt {QLibraryInfo.version().toString()}, платформы: {', '.join(plugins)}"

    def isolation(self) -> str:
        """The build uses its own libraries: no Python package from outside the build is loaded."""
        if not getattr(sys, "frozen", False):
            raise Skipped("не сборка")
        maps = Path("/proc/self/maps")
        if not maps.is_file():
            raise Skipped("нет /proc/self/maps (проверяется на Linux)")
        root = data_root().resolve()
        files = {line.split(maxsplit=5)[5] for line in maps.read_text().splitlines()
                 if len(line.split(maxsplit=5)) == 6 and line.split(maxsplit=5)[5].startswith("/")}
        outside = sorted(f for f in files if not f.startswith(str(root)))
        foreign = [f for f in outside if "site-packages" in f or "dist-packages" in f or "/.venv/" in f]
        if foreign:
            raise CheckFailed(f"загружено не из сборки: {', '.join(foreign[:5])}")
        return f"файлов из сборки {len(files) - len(outside)}, системных {len(outside)}"

    def _kb(self) -> KnowledgeBase:
        if self.kb is None:
            raise CheckFailed("плейбук не загружен (см. выше)")
        return self.kb

    def close(self) -> None:
        if self.kb is not None:
            self.kb.close()


def _isolate(home: Path) -> None:
    for name in [n for n in os.environ if n.startswith("SUFLER_") and n != BUNDLED_ENV]:
        del os.environ[name]
    os.environ["SUFLER_HOME"] = str(home)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sufler --self-test", description="Самопроверка сборки Суфлёра.")
    parser.add_argument("--demo", type=Path, help="расшифровка звонка (.jsonl) вместо встроенного демо")
    parser.add_argument("--wav", type=Path, help="WAV для проверки распознавания речи")
    parser.add_argument("--keep", action="store_true", help="не удалять временный профиль")
    args = parser.parse_args(argv)

    def out(line: str) -> None:
        print(line, flush=True)

    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="sufler-selftest-"))
    _isolate(home)
    frozen = "сборка" if getattr(sys, "frozen", False) else "исходники"
    out(f"Самопроверка Суфлёра ({frozen}, Python {sys.version.split()[0]}, {sys.platform}); профиль {home}")
    chosen = use_bundled_models()
    for name, value in chosen.items():
        out(f"     встроенная модель: {name}={value}")
    test = SelfTest(args.demo, args.wav, out)
    try:
        test.run("ресурсы", test.resources)
        test.run("плейбук", test.playbook)
        test.run("смысловая модель", test.embedder)
        test.run("индекс", test.index)
        test.run("поиск «дорого»", test.search)
        test.run("разбор демо-звонка", test.call)
        test.run("vosk", test.vosk_library)
        test.run("распознавание речи", test.speech)
        test.run("звук (soxr, PortAudio, soundcard)", test.audio)
        test.run("хранилище паролей", test.keyring)
        test.run("Qt", test.qt)
        test.run("только свои библиотеки", test.isolation)
    finally:
        test.close()
        if not args.keep:
            import shutil

            shutil.rmtree(home, ignore_errors=True)
    failed = [o for o in test.outcomes if o.status == "FAIL"]
    total = time.monotonic() - started
    if failed:
        out(f"САМОПРОВЕРКА НЕ ПРОЙДЕНА: ошибок {len(failed)} из {len(test.outcomes)} ({total:.1f} с)")
        return 1
    out(f"Самопроверка пройдена: {len(test.outcomes)} проверок ({total:.1f} с)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
