"""``kill -9`` at random moments while a bundle is being applied, many times over: after each kill
and the start-up recovery, the active playbook is exactly the old or the new version, complete,
and nothing half-made is left (staging, index folders, cached bundles)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from knowledge.playbook import load_playbook
from knowledge.search import Searcher
from knowledge.settings import Settings
from sync.apply import apply_file, read_state
from sync.install import open_version
from sync.recovery import startup
from sync.state import StateDB, index_root
from tests.conftest import ROOT
from tests.support.distribution import make_admin, publish_version, trusting

ITERATIONS = int(os.environ.get("SUFLER_KILL_ITERATIONS", "50"))
WORKER = ROOT / "tests" / "support" / "apply_worker.py"


def start_worker(home: Path, settings: Settings, bundle: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "SUFLER_HOME": str(home), "SUFLER_EMBEDDING__MODEL": "none",
           "SUFLER_DISTRIBUTION__TRUSTED_KEYS": json.dumps(settings.distribution.trusted_keys)}
    proc = subprocess.Popen([sys.executable, str(WORKER), str(bundle)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", (line, proc.stderr.read() if proc.stderr else "")
    return proc


def check_complete(settings: Settings, expected: dict[int, str]) -> int:
    """The state names one version; its index and cards are whole; nothing else is left behind."""
    state = read_state(settings)
    assert state.active is not None and state.active.folder
    assert state.high_water == state.active.version
    folder = index_root(settings) / state.active.folder
    index = open_version(settings, folder)  # raises if the shard is incomplete
    try:
        assert index.meta.chunks == state.active.chunks and index.meta.playbook_version == state.active.version
        assert load_playbook(folder / "cards").content_hash() == expected[state.active.version]
        assert Searcher(index, None).search("у меня пять минут", 1)[0].handles == ["no_time"]
    finally:
        index.close()
    with StateDB(settings) as db:
        folders, bundles = db.referenced()
    assert {p.name for p in index_root(settings).iterdir()} == folders
    assert {p.name for p in settings.bundles_dir().iterdir()} == bundles
    assert [p.name for p in settings.staging_dir().iterdir() if p.name != "downloads"] == []
    return state.active.version


def test_kill_9_at_random_moments_during_apply(lemma_settings: Settings, tmp_path: Path,
                                               sufler_home: Path) -> None:
    admin = make_admin(tmp_path / "keys")
    settings = trusting(lemma_settings, admin)
    root, channel = tmp_path / "kb", tmp_path / "channel"
    bundles: dict[int, Path] = {}
    expected: dict[int, str] = {}
    for version in range(1, ITERATIONS + 3):
        bundles[version] = publish_version(settings, root, channel, admin, version).bundle
        expected[version] = load_playbook(root).content_hash()
    apply_file(settings, bundles[1], embedder=None)

    proc = start_worker(sufler_home, settings, bundles[2])  # one full run gives the apply's duration
    out, errs = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.startswith("DONE 2"), errs
    duration = float(out.split()[2])
    current = check_complete(settings, expected)
    assert current == 2

    seed = int(os.environ.get("SUFLER_KILL_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    outcomes = {"old": 0, "new": 0, "interrupted": 0}
    for attempt in range(3, ITERATIONS + 3):
        proc = start_worker(sufler_home, settings, bundles[attempt])
        # A third of the kills anywhere in the apply, a third around its end (the switch, the clean-up),
        # a third late (this machine is shared: an apply may take several times the measured one).
        low, high = ((0.0, 1.0), (0.5, 1.5), (0.9, 3.0))[attempt % 3]
        time.sleep(rng.uniform(low * duration, high * duration))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        outcomes["interrupted"] += "DONE" not in out
        startup(settings, embedder=None)  # what the app does when it starts again
        active = check_complete(settings, expected)
        assert active in (current, attempt), f"seed {seed}: version {active} after killing {current}->{attempt}"
        outcomes["new" if active == attempt else "old"] += 1
        current = active
    print(f"kill -9 x{ITERATIONS} (seed {seed}, apply {duration:.2f} s): {outcomes}")
    assert outcomes["old"] >= 3 and outcomes["new"] >= 3 and outcomes["interrupted"] >= 3, (seed, outcomes)
