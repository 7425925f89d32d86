"""Under Xvfb: start the real app (``python -m desktop.app``), replay a demo call, save screenshots.

The PNG files go to docs/screenshots/ (panel mid-call, search, wrap-up, settings, the whole screen).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import xvfb

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
DEMO = ROOT / "resources" / "demo" / "demo-price.jsonl"
SHOTS = ("panel-mid-call.png", "search.png", "wrapup.png", "settings.png", "desktop.png")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@pytest.mark.skipif(not xvfb.available(), reason="Xvfb is not installed (apt-get install xvfb)")
def test_real_app_replays_a_call_and_saves_screenshots(sufler_home: Path) -> None:
    pytest.importorskip("PySide6")
    for name in SHOTS:
        (OUT / name).unlink(missing_ok=True)
    with xvfb.xvfb() as display:
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", SUFLER_EMBEDDING__MODEL="none",
                   SUFLER_HOME=str(sufler_home))
        proc = subprocess.run([sys.executable, "-m", "desktop.app", "--replay", str(DEMO), "--speed", "6",
                               "--screenshots", str(OUT)], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "icon shown" in proc.stderr
    shown = float(proc.stderr.split("icon shown ")[1].split(" s")[0])
    assert shown < 2.0, f"tray icon after {shown} s"
    for name in SHOTS:
        width, height = png_size(OUT / name)
        assert width >= 300 and height >= 300, (name, width, height)
