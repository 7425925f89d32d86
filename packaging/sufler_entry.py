"""The built app's entry point (PyInstaller runs this script).

- ``sufler --self-test [...]``: the headless self-test (``desktop.selftest``).
- ``sufler`` with no arguments (or only the app's own options ``--replay``/``--speed``/``--screenshots``/
  ``--request``), when the build includes the Qt app: the tray app (``desktop.app.main.run``).
- ``sufler -m MODULE [...]``: runs one of the app's modules as ``python -m MODULE`` would (the frozen
  ``sys.executable`` is this program, so a child process such as ``[sys.executable, "-m", "sync", "pull"]``
  works in the build too).
- anything else: the command line (``desktop.cli.main``), exactly as ``.venv/bin/sufler``.

Before that, the models shipped inside the build become the defaults (``desktop.selftest.use_bundled_models``:
only when the user has not chosen a model; nothing is written to the settings).
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import runpy
import sys
import warnings

APP_OPTIONS = ("--replay", "--speed", "--screenshots", "--request")


def _wants_app(argv: list[str]) -> bool:
    if argv and not argv[0].startswith(APP_OPTIONS):
        return False
    if os.environ.get("SUFLER_NO_APP"):
        return False
    return importlib.util.find_spec("PySide6") is not None and importlib.util.find_spec("desktop.app.main") is not None


def main() -> None:
    # shiboken's signature module nags about the Python version in frozen apps; nothing for the user
    warnings.filterwarnings("ignore", message=r".*Python is at version", category=UserWarning)
    multiprocessing.freeze_support()  # the playbook pull runs in a child process (python -m sync pull)
    argv = sys.argv[1:]
    if argv[:1] == ["--self-test"]:
        from desktop.selftest import main as self_test

        sys.exit(self_test(argv[1:]))
    if len(argv) >= 2 and argv[0] == "-m":
        sys.argv = [sys.argv[0], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return
    from desktop.selftest import use_bundled_models

    use_bundled_models()
    if _wants_app(argv):
        from desktop.app.main import run

        sys.exit(run(argv))
    from desktop.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
