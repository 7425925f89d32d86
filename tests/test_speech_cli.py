"""`sufler models | devices | transcribe` as a user runs them: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.audio import deterministic_model, make_call


def sufler(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SUFLER_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-m", "desktop.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=full_env, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], proc.stderr


def test_models_list_and_import_a_zip(sufler_home: Path, tmp_path: Path) -> None:
    listed = json.loads(sufler(["models", "list", "--json"], sufler_home).stdout)
    assert [m["name"] for m in listed] == ["vosk-model-small-ru-0.22", "vosk-model-ru-0.42"]
    assert listed[0]["active"] and not listed[0]["installed"]
    archive = tmp_path / "vosk-model-x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("am/final.mdl", "conf/mfcc.conf", "graph/HCLG.fst"):
            zf.writestr(f"vosk-model-x/{name}", "x")
    proc = sufler(["models", "import", str(archive)], sufler_home)
    assert proc.returncode == 0, proc.stderr
    assert "vosk-model-x" in proc.stdout
    listed = json.loads(sufler(["models", "list", "--json"], sufler_home).stdout)
    assert listed[-1]["name"] == "vosk-model-x" and listed[-1]["active"] and listed[-1]["installed"]
    assert not listed[0]["active"]
    human = sufler(["models", "list"], sufler_home).stdout
    assert "* vosk-model-x" in human and "не скачана" in human


def test_model_mistakes_are_one_line(sufler_home: Path, tmp_path: Path) -> None:
    one_line_error(sufler(["models", "download", "vosk-model-klingon"], sufler_home), "неизвестная модель")
    (tmp_path / "not-a-model").mkdir()
    one_line_error(sufler(["models", "import", str(tmp_path / "not-a-model")], sufler_home), "не модель vosk",
                   "not-a-model")


def test_transcribe_mistakes_are_one_line(sufler_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "call.wav"
    bad.write_bytes(b"RIFF....not really")
    one_line_error(sufler(["transcribe", str(bad)], sufler_home), str(bad))
    one_line_error(sufler(["transcribe", str(tmp_path / "missing.wav")], sufler_home), "missing.wav", "не найден")
    good = make_call(tmp_path / "call")[0]
    one_line_error(sufler(["transcribe", str(good)], sufler_home), "vosk-model-small-ru-0.22",
                   "sufler models download")
    one_line_error(sufler(["transcribe", str(good), "--model", str(tmp_path)], sufler_home), str(tmp_path),
                   "не модель vosk")


def test_devices_lists_or_says_why_not(sufler_home: Path) -> None:
    proc = sufler(["devices", "--json"], sufler_home, XDG_RUNTIME_DIR=str(sufler_home))  # no sound server here
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert isinstance(json.loads(proc.stdout), list)
    assert "PulseAudio недоступен" in proc.stderr or sys.platform != "linux"


@pytest.mark.slow
def test_transcribe_prints_finals_with_speaker_and_times(sufler_home: Path, tmp_path: Path) -> None:
    call, spans = make_call(tmp_path / "call")
    model = deterministic_model(tmp_path / "ko")
    proc = sufler(["transcribe", str(call), "--model", str(model), "--json"], sufler_home)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["speaker"] for line in lines] == ["manager", "client"]
    for line in lines:
        start, end = spans[line["speaker"]]
        assert line["text"] and start - 0.3 <= line["start"] < line["end"] <= end + 0.3
        assert " ".join(w[0] for w in line["words"]) == line["text"]
    human = sufler(["transcribe", str(call), "--model", str(model)], sufler_home)
    assert "менеджер:" in human.stdout and "клиент:" in human.stdout
