"""A crash loses nothing said before it: a child process running a call is killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from assist.call_store import CallStore
from tests.cards_factory import complete_playbook

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from assist.call_store import CallStore
from assist.session import CallSession
from assist.sources import TranscriptReplay
from knowledge.engine import KnowledgeBase
from knowledge.settings import load_settings

store = CallStore(Path(sys.argv[1]))
def written(event):  # listeners run after the store's commit
    print(event.type, flush=True)
session = CallSession(KnowledgeBase(load_settings()), TranscriptReplay(sys.argv[2], 10.0), store=store,
                      listeners=[written])
session.start()
session.wait()
"""


def test_sigkill_mid_call_keeps_every_event_and_marks_the_call_interrupted(tmp_path: Path) -> None:
    lines = [json.dumps({"call_id": "crash", "started_at": "2026-11-20T10:00:00+03:00"})]
    for n in range(40):  # 2 s each: 80 s of call, 8 s at speed 10
        speaker = "manager" if n % 2 == 0 else "client"
        lines.append(json.dumps({"speaker": speaker, "start": 2.0 * n + 0.2, "end": 2.0 * n + 1.8,
                                 "text": f"фраза номер {n} добрый день"}, ensure_ascii=False))
    call = tmp_path / "call.jsonl"
    call.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "calls.db"
    env = {**os.environ, "SUFLER_PLAYBOOK__PATH": str(complete_playbook(tmp_path / "kb")),
           "SUFLER_EMBEDDING__MODEL": "none"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(call), str(ROOT)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    seen: list[str] = []
    assert child.stdout is not None
    try:
        for line in child.stdout:
            seen.append(line.strip())
            if seen.count("UtteranceFinal") == 5:
                os.kill(child.pid, signal.SIGKILL)
                break
    finally:
        child.kill()
        child.wait(30)
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
    store = CallStore(db)  # reopening recovers: the dead process's call is interrupted
    [row] = store.calls()
    assert row.status == "interrupted" and row.name == "crash" and row.ended_at is not None
    stored = [e["type"] for e in store.events(row.call_id)]
    assert stored[: len(seen)] == seen  # everything the child had said it wrote is there
    assert "CallEnded" not in stored
    transcript = store.transcript(row.call_id)
    assert [u.index for u in transcript.utterances][:5] == [0, 1, 2, 3, 4]
    assert transcript.utterances[4].text == "фраза номер 4 добрый день"
    store.close()
