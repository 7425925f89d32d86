"""Start the app: single instance, language, style, excepthook, tray, background loading.

``run()`` is what ``sufler`` with no arguments calls. Hidden options for demos and the screenshot test:
``--replay FILE.jsonl`` starts a replay at once, ``--speed N`` sets its speed, ``--screenshots DIR``
saves the panel mid-call, the search window and the wrap-up dialog as PNG files and quits.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

STARTED = time.monotonic()


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sufler", add_help=False)
    parser.add_argument("--replay", type=Path)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--screenshots", type=Path)
    parser.add_argument("--request", default="show")
    args, _unknown = parser.parse_known_args(argv)
    return args


def run(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    args = _args(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication(["sufler"])
    assert isinstance(app, QApplication)
    app.setApplicationName("Sufler")
    # No applicationDisplayName: Qt would append it to every window title («Суфлёр — панель — Суфлёр»).
    app.setQuitOnLastWindowClosed(False)

    from desktop.app.single_instance import InstanceServer, hand_over

    if hand_over(args.request):
        return 0

    from desktop.app.errors import install_excepthook, show_error
    from desktop.app.i18n import set_language
    from desktop.app.icons import state_icon
    from desktop.app.style import apply_style
    from knowledge.settings import SettingsError, load_settings

    router = install_excepthook()
    apply_style(app)
    app.setWindowIcon(state_icon("idle"))
    settings_problem = ""
    try:
        set_language(load_settings().language)
    except SettingsError as exc:
        settings_problem = str(exc)
    server = InstanceServer()
    server.listen()

    from desktop.app.tray import TrayApp

    tray = TrayApp(app)
    server.request.connect(tray.handle_request)
    tray.start(first_run=False if args.replay or args.screenshots else None)
    sys.stderr.write(f"sufler: icon shown {time.monotonic() - STARTED:.2f} s after start\n")
    if settings_problem:
        show_error(None, settings_problem)
    if args.replay:
        tray.replay(args.replay, args.speed)
    if args.screenshots:
        from desktop.app.screenshots import ScreenshotTour

        tour = ScreenshotTour(tray, args.screenshots)
        tour.start()
    app.aboutToQuit.connect(server.close)
    code = int(app.exec())
    del router
    # Everything is saved by now (settings, desktop.ini, the outbox, the call store). Python's own
    # finalization then meets a shiboken refcount bug (PySide6 6.12: "bool_dealloc: deallocating True
    # or False" while garbage-collecting Qt wrappers) and aborts; leave without it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(run())
