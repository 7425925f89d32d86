"""WAV files as a call: stereo (left = manager, right = client), two mono files, or one mono side.

Replayed in real time (blocks appear when their audio would have been captured) or as fast as the
reader takes them (the reader pulls; nothing is dropped). A file we cannot use is a one-line
``WavError`` naming it, raised when the source is made, before anything starts.
"""

from __future__ import annotations

import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from assist.audio.base import AudioSource, BoundedQueue, Channel, RawBlock
from assist.audio.errors import WavError


@dataclass
class _Track:
    """One open WAV file and the call channel each of its file channels feeds."""

    path: Path
    reader: wave.Wave_read
    channels: tuple[Channel, ...]  # per file channel, in order
    rate: int
    width: int
    done: bool = False


def _open(path: Path, channels: tuple[Channel, ...] | None) -> _Track:
    """Open a PCM WAV file; ``channels`` None means stereo = (manager, client), mono = one side."""
    if not path.is_file():
        raise WavError(f"{path}: файл не найден")
    try:
        reader = wave.open(str(path), "rb")  # noqa: SIM115 - kept open while the call plays
    except wave.Error as exc:
        raise WavError(f"{path}: неподдерживаемый или повреждённый WAV: {exc}") from exc
    except (EOFError, OSError) as exc:
        raise WavError(f"{path}: не удалось прочитать WAV: {exc or 'файл пуст или обрезан'}") from exc
    n, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
    wanted = channels or (("manager", "client") if n == 2 else ("manager",))
    problem = None
    if width not in (1, 2, 3, 4):
        problem = f"{8 * width} бит на отсчёт"
    elif n != len(wanted):
        problem = f"{n} канал(ов), ожидается {'стерео' if len(wanted) == 2 else 'моно'}"
    elif not 8000 <= rate <= 192_000:
        problem = f"частота {rate} Гц"
    if problem:
        reader.close()
        raise WavError(f"{path}: неподдерживаемый WAV ({problem}); нужен PCM, моно или стерео")
    return _Track(path, reader, wanted, rate, width)


def _decode(raw: bytes, width: int, n_channels: int) -> npt.NDArray[np.int16]:
    """PCM bytes of any width → int16, shape (frames, channels)."""
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.int16) - 128) << 8
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.int16)
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] << 8 | b[:, 1] << 16 | b[:, 2] << 24) >> 16).astype(np.int16)
    else:
        x = (np.frombuffer(raw, "<i4") >> 16).astype(np.int16)
    return x.reshape(-1, n_channels)


class WavFileSource(AudioSource):
    """A call from WAV files.

    ``WavFileSource("call.wav")``: stereo, left manager and right client (mono: ``speaker`` only);
    ``WavFileSource("mic.wav", client="line.wav")``: two mono files.
    """

    def __init__(self, path: str | Path, client: str | Path | None = None, *, speaker: Channel = "manager",
                 realtime: bool = False, speed: float = 1.0, chunk_ms: int = 100, max_blocks: int = 50) -> None:
        super().__init__(max_blocks)
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.realtime = realtime
        self.speed = speed
        self.chunk_ms = chunk_ms
        if client is None:
            first = _open(Path(path), None)
            if first.reader.getnchannels() == 1:
                first.channels = (speaker,)
            self._tracks = [first]
        else:
            manager = _open(Path(path), ("manager",))
            try:
                self._tracks = [manager, _open(Path(client), ("client",))]
            except WavError:
                manager.reader.close()
                raise
        self._thread: threading.Thread | None = None

    @property
    def duration(self) -> float:
        """The longest track, in seconds."""
        return max(t.reader.getnframes() / t.rate for t in self._tracks)

    def start(self) -> None:
        self.t0 = time.monotonic()
        queues = {ch: self._open_queue(ch) for t in self._tracks for ch in t.channels}
        self._thread = threading.Thread(target=self._run, args=(queues,), name="wav-source", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        super().stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _run(self, queues: dict[Channel, BoundedQueue[RawBlock]]) -> None:
        position = 0.0  # seconds of audio read so far, the same for every track
        try:
            while not self._stop.is_set() and not all(t.done for t in self._tracks):
                step = self.chunk_ms / 1000
                if self.realtime:  # a block is "captured" when its last sample would have been
                    delay = self.t0 + (position + step) / self.speed - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                for track in self._tracks:
                    if not track.done:
                        self._read_block(track, position, step, queues)
                position += step
        finally:
            for track in self._tracks:
                track.reader.close()
            for queue in queues.values():
                queue.close()

    def _read_block(self, track: _Track, position: float, step: float,
                    queues: dict[Channel, BoundedQueue[RawBlock]]) -> None:
        first = round(position * track.rate)
        want = round((position + step) * track.rate) - first
        try:
            raw = track.reader.readframes(want)
            block = _decode(raw, track.width, len(track.channels))
        except (wave.Error, EOFError, OSError, ValueError) as exc:
            track.done = True
            for ch in track.channels:
                self._fail(ch, f"{track.path}: чтение прервано: {exc}")
            return
        if len(block) < want:
            track.done = True
        if not len(block):
            return
        t_start = first / track.rate
        for i, ch in enumerate(track.channels):
            queues[ch].put(RawBlock(np.ascontiguousarray(block[:, i]), track.rate, t_start), self._stop)
