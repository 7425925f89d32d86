"""Live capture from a real audio device: a private PulseAudio server, a null sink, paplay into it.

The engine records the sink's monitor source through soundcard (the call audio) and the ALSA
``pulse`` device through sounddevice/PortAudio (a microphone). Skipped, with PulseAudio's own error,
only when PulseAudio cannot run at all.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assist.audio import AudioDeviceError, DeviceSpec, LiveSource, list_devices
from assist.audio.base import level_dbfs
from assist.speech import SpeechEngine, SpeechResult, load_model
from tests.support.audio import PHRASES, deterministic_model, espeak, pulse_server

MONITOR = DeviceSpec("soundcard", None, loopback=True)  # the monitor of the default output: callsink


def _refresh_portaudio() -> None:
    """PortAudio lists devices once, when it starts: restart it to see the ALSA pulse device."""
    import sounddevice

    sounddevice._terminate()
    sounddevice._initialize()


@pytest.fixture(scope="module")
def pulse() -> Iterator[dict[str, str]]:
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_SERVER")}
    with pulse_server("callsink") as env:
        os.environ.pop("PULSE_SERVER", None)
        os.environ["XDG_RUNTIME_DIR"] = env["XDG_RUNTIME_DIR"]
        os.environ["PULSE_RUNTIME_PATH"] = env["PULSE_RUNTIME_PATH"]
        _refresh_portaudio()
        try:
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            _refresh_portaudio()


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return espeak(PHRASES["client"], tmp_path_factory.mktemp("speech") / "client.wav")


def watchdog(source: LiveSource, seconds: float = 30.0) -> threading.Timer:
    """Stops the source if a device never delivers, so a broken server fails the test instead of hanging it."""
    timer = threading.Timer(seconds, source.stop)
    timer.daemon = True
    timer.start()
    return timer


def play(env: dict[str, str], wav: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["paplay", "--device=callsink", str(wav)], env=env, stderr=subprocess.PIPE)


def test_devices_are_listed_with_host_api_and_channels(pulse: dict[str, str]) -> None:
    devices, problems = list_devices()
    assert problems == []
    monitor = next(d for d in devices if d.backend == "soundcard" and d.loopback)
    assert monitor.name == "Monitor of Null Output" and monitor.host_api == "PulseAudio" and monitor.inputs == 2
    alsa_pulse = next(d for d in devices if d.backend == "sounddevice" and d.name == "pulse")
    assert alsa_pulse.host_api == "ALSA" and alsa_pulse.inputs > 0 and alsa_pulse.default_rate


def test_monitor_capture_delivers_16k_frames_with_levels(pulse: dict[str, str], speech_wav: Path) -> None:
    source = LiveSource(manager=None, client=MONITOR)
    source.start()
    timer = watchdog(source)
    player = play(pulse, speech_wav)
    frames, levels = [], []
    try:
        for frame in source.frames("client"):
            frames.append(frame)
            levels.append(source.level("client"))
            if player.poll() is not None and len(frames) > 20:
                break
    finally:
        timer.cancel()
        source.stop()
    assert player.returncode == 0, player.stderr.read() if player.stderr else ""
    assert source.channels == ("client",) and source.failures == {} and source.dropped("client") == 0
    assert all(f.rate == 16_000 and f.channel == "client" for f in frames)
    starts = [f.t_start for f in frames]
    assert all(b == pytest.approx(a.t_end, abs=2e-3) for a, b in zip(frames, starts[1:], strict=False))
    assert max(levels) > -30.0  # speech, not silence
    audio = np.concatenate([f.samples for f in frames]).astype(np.float32) / 32768
    assert level_dbfs(audio) > -40.0


@pytest.mark.slow
def test_engine_recognises_the_call_audio_of_a_real_device(pulse: dict[str, str], speech_wav: Path,
                                                           tmp_path: Path) -> None:
    model = load_model(deterministic_model(tmp_path / "ko"))
    results: list[SpeechResult] = []
    engine = SpeechEngine(model, LiveSource(manager=DeviceSpec("sounddevice", "pulse"), client=MONITOR),
                          on_result=results.append)
    engine.start()
    try:
        time.sleep(0.3)
        player = play(pulse, speech_wav)
        assert player.wait(30) == 0
        time.sleep(0.8)
    finally:
        engine.stop()
    assert engine.failures == {}
    for channel in ("manager", "client"):  # the ALSA pulse device records the default source: the monitor
        final = [r for r in results if r.channel == channel and r.kind == "final"]
        partial = [r for r in results if r.channel == channel and r.kind == "partial"]
        assert final and final[0].text and final[0].words, (channel, results)
        assert partial and partial[0].t_emitted < final[0].t_emitted
        assert 0.3 < final[0].words[0].start < final[0].words[-1].end < time.monotonic() - engine.source.t0


def test_a_missing_microphone_leaves_the_call_channel_running(pulse: dict[str, str], speech_wav: Path) -> None:
    source = LiveSource(manager=DeviceSpec("sounddevice", "no-such-mic"), client=MONITOR)
    source.start()
    timer = watchdog(source)
    try:
        assert source.channels == ("client",)
        assert "no-such-mic" in source.failures["manager"] and "менеджер" in source.failures["manager"]
        player = play(pulse, speech_wav)
        got: list[Any] = []
        for frame in source.frames("client"):
            got.append(frame)
            if len(got) >= 10:
                break
        player.terminate()
        player.wait(10)
    finally:
        timer.cancel()
        source.stop()
    assert len(got) == 10


def test_a_missing_call_device_leaves_the_microphone_running(pulse: dict[str, str]) -> None:
    source = LiveSource(manager=DeviceSpec("sounddevice", "pulse"), client=DeviceSpec("soundcard", "Bluetooth XYZ"))
    source.start()
    timer = watchdog(source)
    try:
        assert source.channels == ("manager",) and "Bluetooth XYZ" in source.failures["client"]
        frame = next(iter(source.frames("manager")))
        assert frame.rate == 16_000 and len(frame.samples) > 0
    finally:
        timer.cancel()
        source.stop()


def test_no_working_device_is_one_clear_error(pulse: dict[str, str]) -> None:
    source = LiveSource(manager=DeviceSpec("sounddevice", "no-such-mic"), client=DeviceSpec("soundcard", "nope"))
    with pytest.raises(AudioDeviceError) as info:
        source.start()
    message = str(info.value)
    assert "no-such-mic" in message and "nope" in message and "\n" not in message


def test_a_call_device_failing_mid_call_keeps_the_microphone(pulse: dict[str, str]) -> None:
    """The server drops the call audio stream during the call: that channel reports it, the other goes on.

    (Unplugging a device is not the same: PulseAudio moves the stream to the fallback source.)"""

    def pactl(*args: str) -> str:
        return subprocess.run(["pactl", *args], env=pulse, capture_output=True, text=True, check=True).stdout

    mic_module = pactl("load-module", "module-null-sink", "sink_name=micsink").strip()
    source = LiveSource(manager=DeviceSpec("soundcard", "micsink.monitor"),
                        client=DeviceSpec("soundcard", "callsink.monitor"))
    source.start()
    timer = watchdog(source)
    counts = {"manager": 0, "client": 0}

    def read(channel: Any) -> None:
        for _ in source.frames(channel):
            counts[channel] += 1

    readers = [threading.Thread(target=read, args=(ch,), daemon=True) for ch in source.channels]
    try:
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 10
        while min(counts.values()) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        monitor = next(line.split()[0] for line in pactl("list", "short", "sources").splitlines()
                       if line.split()[1] == "callsink.monitor")
        stream = next(line.split()[0] for line in pactl("list", "short", "source-outputs").splitlines()
                      if line.split()[1] == monitor)
        pactl("load-module", "module-cli-protocol-unix")  # pacmd's socket: pactl cannot kill a stream
        subprocess.run(["pacmd", "kill-source-output", stream], env=pulse, check=True, capture_output=True)
        readers[1].join(5)
        assert not readers[1].is_alive()  # the client's stream ended
        before = counts["manager"]
        time.sleep(0.5)
        assert counts["manager"] >= before + 5  # the microphone goes on
        assert set(source.failures) == {"client"} and "Monitor of Null Output" in source.failures["client"]
    finally:
        timer.cancel()
        source.stop()
        pactl("unload-module", mic_module)
