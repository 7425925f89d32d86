"""The audio source interface: per-channel bounded queues of raw blocks, read as 16 kHz mono frames.

A source fills one bounded queue per channel ("manager" = microphone, "client" = call audio). Live
capture callbacks only enqueue (dropping the oldest block when the queue is full, and counting the
drops); the reader's thread does the rest: downmix, resampling with soxr, 16-bit conversion and
the input level for a meter. Timestamps are seconds from the call start (``AudioSource.t0``).
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import soxr

Channel = Literal["manager", "client"]
CHANNELS: tuple[Channel, ...] = ("manager", "client")
CHANNEL_LABELS: dict[str, str] = {"manager": "менеджер (микрофон)", "client": "клиент (звук звонка)"}
TARGET_RATE = 16_000  # what the recognizer takes
SILENT_DBFS = -100.0

T = TypeVar("T")


@dataclass(frozen=True)
class RawBlock:
    """A block as the device or file delivered it: int16 or float32, (n,) or (n, channels)."""

    data: npt.NDArray[Any]
    rate: int
    t_start: float


@dataclass(frozen=True)
class AudioFrame:
    """16-bit mono audio of one channel at ``rate``; ``t_start`` in seconds from the call start."""

    channel: Channel
    samples: npt.NDArray[np.int16]
    rate: int
    t_start: float

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    @property
    def t_end(self) -> float:
        return self.t_start + self.duration


class BoundedQueue(Generic[T]):
    """A bounded FIFO: ``put_nowait`` never waits (drops the oldest item when full), ``put`` waits."""

    def __init__(self, maxsize: int) -> None:
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put_nowait(self, item: T) -> None:
        """For audio callbacks: the lock is held only for an append."""
        with self._cond:
            if self._closed:
                return
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def put(self, item: T, stop: threading.Event | None = None) -> bool:
        """For file readers: wait for room (back-pressure). False when the queue is closed or stopped."""
        with self._cond:
            while len(self._items) >= self._maxsize and not self._closed:
                if stop is not None and stop.is_set():
                    return False
                self._cond.wait(0.1)
            if self._closed:
                return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """The next item; None when the queue is closed and empty. Raises TimeoutError on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError
                self._cond.wait(remaining)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._items)


def level_dbfs(x: npt.NDArray[np.float32]) -> float:
    """RMS level of float samples in [-1, 1], in dBFS (``SILENT_DBFS`` for silence)."""
    if x.size == 0:
        return SILENT_DBFS
    rms = math.sqrt(float(np.mean(np.square(x, dtype=np.float64))))
    return max(SILENT_DBFS, 20.0 * math.log10(rms)) if rms > 0 else SILENT_DBFS


def to_float_mono(data: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """int16/int32/float samples, mono or multichannel → float32 mono in [-1, 1]."""
    x = data.astype(np.float32)
    if data.dtype == np.int16:
        x /= 32768.0
    elif data.dtype == np.int32:
        x /= 2147483648.0
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]
    return x


class Conditioner:
    """Turns one channel's raw blocks into ``TARGET_RATE`` int16 mono frames; keeps the input level."""

    def __init__(self, channel: Channel, out_rate: int = TARGET_RATE) -> None:
        self.channel = channel
        self.out_rate = out_rate
        self.level_dbfs = SILENT_DBFS
        self._stream: Any = None
        self._in_rate = 0
        self._origin = 0.0  # call time of the first output sample since the last discontinuity
        self._out_count = 0
        self._next_in = math.nan  # expected t_start of the next input block

    def __call__(self, block: RawBlock) -> AudioFrame:
        x = to_float_mono(block.data)
        self.level_dbfs = level_dbfs(x)
        n_in = len(x)
        if block.rate != self._in_rate or not math.isclose(block.t_start, self._next_in, abs_tol=0.5 * n_in
                                                            / block.rate + 1e-3):
            self._restart(block)
        self._next_in = block.t_start + n_in / block.rate
        if block.rate != self.out_rate:
            x = self._stream.resample_chunk(x)
        samples = np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)
        t_start = self._origin + self._out_count / self.out_rate
        self._out_count += len(samples)
        return AudioFrame(self.channel, samples, self.out_rate, t_start)

    def flush(self) -> AudioFrame | None:
        """At the end of a stream: the samples the resampler still holds."""
        if self._stream is None:
            return None
        x = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream = None
        self._in_rate = 0
        if not len(x):
            return None
        samples = np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)
        t_start = self._origin + self._out_count / self.out_rate
        self._out_count += len(samples)
        return AudioFrame(self.channel, samples, self.out_rate, t_start)

    def _restart(self, block: RawBlock) -> None:
        """First block, a new rate or a gap (dropped blocks): restart the resampler and the clock."""
        self._in_rate = block.rate
        self._stream = (soxr.ResampleStream(block.rate, self.out_rate, 1, dtype="float32", quality="HQ")
                        if block.rate != self.out_rate else None)
        self._origin = block.t_start
        self._out_count = 0


class AudioSource(ABC):
    """Delivers 16-bit mono frames per channel with timestamps; ``frames(channel)`` reads them."""

    rate = TARGET_RATE

    def __init__(self, max_blocks: int = 200) -> None:
        self.max_blocks = max_blocks
        self.t0 = time.monotonic()  # the call start; reset by start()
        self.failures: dict[Channel, str] = {}  # channel → one-line reason it stopped or never started
        self._queues: dict[Channel, BoundedQueue[RawBlock]] = {}
        self._conditioners: dict[Channel, Conditioner] = {}
        self._stop = threading.Event()

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels that started (a channel that failed later still ends its stream normally)."""
        return tuple(ch for ch in CHANNELS if ch in self._queues)

    @abstractmethod
    def start(self) -> None:
        """Open the channels; raises an ``AudioError`` only when no channel can run."""

    def stop(self) -> None:
        """Stop delivering; readers get the blocks already queued, then the end of their stream."""
        self._stop.set()
        for q in self._queues.values():
            q.close()

    def frames(self, channel: Channel, poll: float = 0.2) -> Iterator[AudioFrame]:
        """This channel's frames until the end of its stream (file end, stop() or a device failure)."""
        queue = self._queues[channel]
        conditioner = self._conditioners[channel]
        while True:
            try:
                block = queue.get(poll)
            except TimeoutError:
                continue
            if block is None:
                tail = conditioner.flush()
                if tail is not None:
                    yield tail
                return
            yield conditioner(block)

    def level(self, channel: Channel) -> float:
        """The last input level of a channel in dBFS (for a meter)."""
        cond = self._conditioners.get(channel)
        return cond.level_dbfs if cond else SILENT_DBFS

    def dropped(self, channel: Channel) -> int:
        """Blocks dropped because the reader fell behind."""
        q = self._queues.get(channel)
        return q.dropped if q else 0

    def _open_queue(self, channel: Channel) -> BoundedQueue[RawBlock]:
        queue: BoundedQueue[RawBlock] = BoundedQueue(self.max_blocks)
        self._queues[channel] = queue
        self._conditioners[channel] = Conditioner(channel, self.rate)
        return queue

    def _fail(self, channel: Channel, message: str) -> None:
        """A channel stops for good; the other one goes on."""
        self.failures[channel] = message
        queue = self._queues.get(channel)
        if queue is not None:
            queue.close()

    def __enter__(self) -> AudioSource:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
