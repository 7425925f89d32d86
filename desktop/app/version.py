"""Version line for reports and the about box."""

from __future__ import annotations

import platform
import sys
from importlib import metadata


def app_version() -> str:
    try:
        return metadata.version("sufler-sales")
    except metadata.PackageNotFoundError:
        return "dev"


def describe() -> str:
    from PySide6 import __version__ as pyside

    return (f"Sufler {app_version()}; Python {sys.version.split()[0]}; PySide6 {pyside}; "
            f"{platform.system()} {platform.release()}")
