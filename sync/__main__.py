"""Apply a playbook update in a child process, so the app's searches never wait for it:

    python -m sync pull [CHANNEL]     # what the app's periodic check runs
    python -m sync apply BUNDLE.tar   # a bundle file (a USB stick, a benchmark)

Prints one JSON line (``{"version": N, "headline": ..., "changes": [...]}`` or ``{"version": null}``);
a refusal exits 1 with the reason on one line on stderr. Building a large index keeps the GIL in
the Qdrant engine for seconds, which is why the app does not do it in one of its own threads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from knowledge.settings import SettingsError, load_settings
from knowledge.store import IndexError_
from sync.errors import SyncError


def main(argv: list[str]) -> int:
    from sync.apply import apply_file, pull

    if not argv or argv[0] not in ("pull", "apply") or (argv[0] == "apply" and len(argv) != 2):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        if argv[0] == "pull":
            result = pull(settings, argv[1] if len(argv) > 1 else None)
        else:
            result = apply_file(settings, Path(argv[1]))
    except (SyncError, SettingsError, IndexError_, OSError) as exc:
        print(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, file=sys.stderr)
        return 1
    if result is None:
        print(json.dumps({"version": None}))
    else:
        print(json.dumps({"version": result.version, "previous": result.previous, "headline": result.headline(),
                          "changes": result.changes.lines(), "seconds": round(result.seconds, 2),
                          "vectors": result.vectors}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
