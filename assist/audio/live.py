"""Live capture: the microphone (manager) and the call audio (client), each from its own device.

The microphone comes through sounddevice (a PortAudio callback); the call audio through soundcard
(a PulseAudio monitor source or a WASAPI loopback), read by a capture thread. Either way the
capture side only enqueues a copy of the block; conversion happens on the reader's thread. A
channel whose device is missing or busy is reported in ``failures`` and the call goes on with the
other one; only when neither channel can start does ``start()`` raise ``AudioDeviceError``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from assist.audio.base import CHANNEL_LABELS, AudioSource, BoundedQueue, Channel, RawBlock
from assist.audio.devices import DeviceSpec, import_soundcard, import_sounddevice
from assist.audio.errors import AudioDeviceError

DEFAULT_SPECS: dict[Channel, DeviceSpec] = {
    "manager": DeviceSpec("sounddevice"),
    "client": DeviceSpec("soundcard", loopback=True),
}


class LiveSource(AudioSource):
    """Two capture devices, one per call channel; ``None`` for a channel leaves it off."""

    def __init__(self, manager: DeviceSpec | None = DEFAULT_SPECS["manager"],
                 client: DeviceSpec | None = DEFAULT_SPECS["client"], *, block_ms: int = 50,
                 capture_rate: int = 48_000, max_blocks: int = 200) -> None:
        super().__init__(max_blocks)
        self.specs: dict[Channel, DeviceSpec | None] = {"manager": manager, "client": client}
        self.block_ms = block_ms
        self.capture_rate = capture_rate  # soundcard: the rate we ask the sound server for
        self.device_names: dict[Channel, str] = {}
        self._streams: list[Any] = []
        self._threads: list[tuple[threading.Thread, threading.Event]] = []

    def start(self) -> None:
        self.t0 = time.monotonic()
        for channel, spec in self.specs.items():
            if spec is None:
                continue
            try:
                if spec.backend == "sounddevice":
                    self._start_sounddevice(channel, spec)
                else:
                    self._start_soundcard(channel, spec)
            except AudioDeviceError as exc:
                self._queues.pop(channel, None)
                self.failures[channel] = f"канал {CHANNEL_LABELS[channel]}: {exc}"
        if not self._queues:
            reasons = "; ".join(self.failures.values()) or "оба канала выключены в настройках"
            raise AudioDeviceError(f"нет ни одного работающего устройства записи: {reasons}")

    def stop(self) -> None:
        super().stop()
        for stream in self._streams:
            try:
                stream.stop()
                stream.close()
            except Exception:  # a device that vanished mid-call cannot be closed cleanly
                pass
        self._streams.clear()
        for _, stop in self._threads:
            stop.set()
        for thread, _ in self._threads:
            thread.join(timeout=2)
        self._threads.clear()

    # --- sounddevice (PortAudio): microphones ------------------------------------------------------

    def _start_sounddevice(self, channel: Channel, spec: DeviceSpec) -> None:
        sd = import_sounddevice()
        wanted: Any = spec.device
        if wanted is not None and wanted.isdigit():
            wanted = int(wanted)
        try:
            info = sd.query_devices(wanted, "input")
        except (ValueError, sd.PortAudioError) as exc:
            what = f"'{spec.device}'" if spec.device else "по умолчанию"
            raise AudioDeviceError(f"устройство записи {what} не найдено ({exc})", channel) from exc
        rate = int(info["default_samplerate"])
        queue = self._open_queue(channel)
        offset = 0.0
        count = 0

        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            nonlocal count, offset
            if count == 0:  # the clock starts with the first block: opening a stream can take a while
                offset = time.monotonic() - self.t0 - frames / rate
            queue.put_nowait(RawBlock(indata.copy(), rate, offset + count / rate))
            count += frames

        def finished() -> None:
            if not self._stop.is_set():
                self._fail(channel, f"канал {CHANNEL_LABELS[channel]}: устройство {info['name']} остановилось")

        try:
            stream = sd.InputStream(device=info["index"], channels=1, samplerate=rate, dtype="int16",
                                    blocksize=rate * self.block_ms // 1000, callback=callback,
                                    finished_callback=finished)
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioDeviceError(f"устройство {info['name']} занято или недоступно ({exc})", channel) from exc
        self._streams.append(stream)
        self.device_names[channel] = str(info["name"])

    # --- soundcard: the call audio (monitor / loopback) ---------------------------------------------

    def _start_soundcard(self, channel: Channel, spec: DeviceSpec) -> None:
        sc = import_soundcard()
        try:
            if spec.device is None:
                if not spec.loopback:
                    device = sc.default_microphone()
                else:  # the sound of the default output: what the headset plays
                    device = sc.get_microphone(sc.default_speaker().name, include_loopback=True)
            else:
                device = sc.get_microphone(spec.device, include_loopback=True)
        except Exception as exc:  # IndexError: no match; RuntimeError: no default device
            what = f"'{spec.device}'" if spec.device else "по умолчанию"
            raise AudioDeviceError(f"устройство записи {what} не найдено ({exc})", channel) from exc
        name = str(device.name)  # soundcard asks the server each time: gone with the device
        queue = self._open_queue(channel)
        opened, stop = threading.Event(), threading.Event()
        problem: list[BaseException] = []
        thread = threading.Thread(target=self._run_soundcard, args=(channel, device, name, queue, opened, stop,
                                                                    problem), name=f"capture-{channel}", daemon=True)
        thread.start()
        opened.wait(5.0)
        if problem or not opened.is_set():
            stop.set()
            thread.join(timeout=1)
            reason = problem[0] if problem else "нет ответа за 5 с"
            raise AudioDeviceError(f"устройство {name} занято или недоступно ({reason})", channel)
        self._threads.append((thread, stop))
        self.device_names[channel] = name

    def _run_soundcard(self, channel: Channel, device: Any, name: str, queue: BoundedQueue[RawBlock],
                       opened: threading.Event, stop: threading.Event, problem: list[BaseException]) -> None:
        rate = self.capture_rate
        block = rate * self.block_ms // 1000
        count = 0
        try:
            with device.recorder(samplerate=rate, channels=1, blocksize=block) as recorder:
                opened.set()
                offset = 0.0
                while not stop.is_set():
                    data = recorder.record(numframes=block)
                    if count == 0:  # the clock starts with the first block, as for sounddevice
                        offset = time.monotonic() - self.t0 - len(data) / rate
                    queue.put_nowait(RawBlock(data, rate, offset + count / rate))
                    count += len(data)
        except Exception as exc:  # the device vanished or the server went away
            if not opened.is_set():
                problem.append(exc)
                return
            if not stop.is_set():
                self._fail(channel, f"канал {CHANNEL_LABELS[channel]}: устройство {name} отказало ({exc})")
