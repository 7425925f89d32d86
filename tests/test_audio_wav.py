"""WAV sources, the bounded queue, conversion and levels: real files, real resampling, no mocks."""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from assist.audio import AudioFrame, BoundedQueue, DeviceSpec, WavError, WavFileSource, level_dbfs
from assist.audio.base import Conditioner, RawBlock

RATE = 16_000


def write_wav(path: Path, data: np.ndarray, rate: int = RATE, width: int = 2) -> Path:
    """int16 samples (n,) or (n, ch) written as PCM of ``width`` bytes."""
    x = data.reshape(len(data), -1)
    if width == 1:
        raw = ((x.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
    elif width == 2:
        raw = x.astype("<i2").tobytes()
    elif width == 3:
        v = x.astype(np.int32) << 8
        raw = np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=-1).astype(np.uint8).tobytes()
    else:
        raw = (x.astype(np.int32) << 16).astype("<i4").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    return path


def tone(freq: float, seconds: float, rate: int = RATE, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def read_all(source: WavFileSource) -> dict[str, list[AudioFrame]]:
    source.start()
    out: dict[str, list[AudioFrame]] = {}
    threads = []
    for ch in source.channels:
        out[ch] = []
        t = threading.Thread(target=lambda c=ch: out[c].extend(source.frames(c)))
        threads.append(t)
        t.start()
    for t in threads:
        t.join(10)
    source.stop()
    return out


def joined(frames: list[AudioFrame]) -> np.ndarray:
    return np.concatenate([f.samples for f in frames])


def test_stereo_and_two_mono_files_give_the_same_frames(tmp_path: Path) -> None:
    left, right = tone(300, 1.23), tone(700, 1.23, amp=0.2)
    stereo = write_wav(tmp_path / "call.wav", np.stack([left, right], axis=1))
    mono_m, mono_c = write_wav(tmp_path / "m.wav", left), write_wav(tmp_path / "c.wav", right)
    a = read_all(WavFileSource(stereo))
    b = read_all(WavFileSource(mono_m, client=mono_c))
    assert set(a) == set(b) == {"manager", "client"}
    for ch, expected in (("manager", left), ("client", right)):
        assert np.array_equal(joined(a[ch]), expected) and np.array_equal(joined(b[ch]), expected)
        assert [f.t_start for f in a[ch]] == [f.t_start for f in b[ch]]
        assert a[ch][1].t_start == pytest.approx(0.1) and a[ch][-1].t_end == pytest.approx(1.23)
        assert all(f.channel == ch and f.rate == RATE for f in a[ch])


def test_mono_file_is_one_side_of_the_call(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "line.wav", tone(440, 0.5))
    source = WavFileSource(path, speaker="client")
    frames = read_all(source)
    assert list(frames) == ["client"] and source.channels == ("client",)


@pytest.mark.parametrize("width", [1, 3, 4])
def test_other_pcm_widths_decode_like_16_bit(tmp_path: Path, width: int) -> None:
    x = tone(500, 0.3)
    frames = read_all(WavFileSource(write_wav(tmp_path / f"w{width}.wav", x, width=width)))["manager"]
    tolerance = 256 if width == 1 else 0
    assert np.max(np.abs(joined(frames).astype(np.int32) - x)) <= tolerance


def test_other_rates_are_resampled_to_16k(tmp_path: Path) -> None:
    x = tone(1000, 2.0, rate=44_100)
    frames = read_all(WavFileSource(write_wav(tmp_path / "cd.wav", x, rate=44_100)))["manager"]
    y = joined(frames).astype(np.float64)
    assert abs(len(y) - 32_000) <= 2
    spectrum = np.abs(np.fft.rfft(y[4000:20000]))
    assert np.argmax(spectrum) * RATE / 16000 == pytest.approx(1000, abs=2)
    times = [f.t_start for f in frames]
    assert times == sorted(times) and frames[-1].t_end == pytest.approx(2.0, abs=0.01)


def test_real_time_pacing_and_speed(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "one.wav", tone(300, 1.0))
    for realtime, speed, low, high in ((True, 1.0, 0.9, 1.6), (True, 4.0, 0.2, 0.6), (False, 1.0, 0.0, 0.3)):
        t = time.monotonic()
        frames = read_all(WavFileSource(path, realtime=realtime, speed=speed))["manager"]
        assert low <= time.monotonic() - t <= high, (realtime, speed)
        assert len(frames) == 10


def test_fast_replay_never_drops_a_slow_reader(tmp_path: Path) -> None:
    source = WavFileSource(write_wav(tmp_path / "long.wav", tone(300, 3.0)), max_blocks=3)
    source.start()
    got = []
    for frame in source.frames("manager"):
        time.sleep(0.002)
        got.append(frame)
    assert len(got) == 30 and source.dropped("manager") == 0


@pytest.mark.parametrize("content, expected", [
    (b"", "WAV"),
    (b"this is not audio at all", "WAV"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt ", "WAV"),
])
def test_unreadable_wav_is_one_line_naming_the_file(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "broken call.wav"
    path.write_bytes(content)
    with pytest.raises(WavError) as info:
        WavFileSource(path)
    message = str(info.value)
    assert str(path) in message and expected in message and "\n" not in message


def test_unsupported_layouts_are_refused(tmp_path: Path) -> None:
    three = write_wav(tmp_path / "three.wav", np.zeros((100, 3), np.int16))
    with pytest.raises(WavError, match=r"three.wav.*неподдерживаемый"):
        WavFileSource(three)
    stereo = write_wav(tmp_path / "stereo.wav", np.zeros((100, 2), np.int16))
    mono = write_wav(tmp_path / "mono.wav", np.zeros(100, np.int16))
    with pytest.raises(WavError, match=r"stereo.wav"):
        WavFileSource(mono, client=stereo)
    with pytest.raises(WavError, match=r"missing.wav: файл не найден"):
        WavFileSource(mono, client=tmp_path / "missing.wav")


def test_truncated_file_plays_what_is_there(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "cut.wav", tone(300, 1.0))
    path.write_bytes(path.read_bytes()[:44 + 2 * 8000])
    frames = read_all(WavFileSource(path))["manager"]
    assert len(joined(frames)) == 8000


def test_bounded_queue_drops_the_oldest_and_counts() -> None:
    q: BoundedQueue[int] = BoundedQueue(3)
    t = time.perf_counter()
    for i in range(10):
        q.put_nowait(i)
    assert time.perf_counter() - t < 0.05
    assert q.dropped == 7 and [q.get(0), q.get(0), q.get(0)] == [7, 8, 9]
    with pytest.raises(TimeoutError):
        q.get(0.01)
    q.close()
    assert q.get(0.01) is None


def test_conditioner_keeps_time_across_dropped_blocks() -> None:
    cond = Conditioner("client")
    block = (np.ones((2400, 2), np.float32) * 0.1)
    a = cond(RawBlock(block, 48_000, 0.0))
    b = cond(RawBlock(block, 48_000, 0.05))
    c = cond(RawBlock(block, 48_000, 0.5))  # 9 blocks were dropped before this one
    assert a.t_start == 0.0 and b.t_start == pytest.approx(a.t_start + a.duration)
    assert c.t_start == pytest.approx(0.5)
    assert cond.level_dbfs == pytest.approx(-20.0, abs=0.1)


def test_levels_in_dbfs() -> None:
    assert level_dbfs(np.zeros(160, np.float32)) == -100.0
    full = np.sin(np.linspace(0, 200 * np.pi, 16000, dtype=np.float32))
    assert level_dbfs(full) == pytest.approx(-3.01, abs=0.05)


def test_device_specs_from_settings() -> None:
    assert DeviceSpec.parse("", "manager") == DeviceSpec("sounddevice")
    assert DeviceSpec.parse("", "client") == DeviceSpec("soundcard", loopback=True)
    assert DeviceSpec.parse("none", "client") is None
    assert DeviceSpec.parse("soundcard:Monitor of Null Output", "manager") == DeviceSpec(
        "soundcard", "Monitor of Null Output")
    assert DeviceSpec.parse("sounddevice:3", "client") == DeviceSpec("sounddevice", "3", loopback=True)
