"""Capture devices: listing (with host API and channel counts) and choosing one per call channel.

Two backends: ``sounddevice`` (PortAudio) for microphones and the listing of PortAudio devices;
``soundcard`` for the call audio, because PortAudio has no WASAPI loopback and cannot pick a
PulseAudio monitor source (every Linux output has a ``<sink>.monitor`` source; Windows gives a
loopback of each output). Both are imported lazily: a machine without PortAudio or without a sound
server still lists what the other backend sees.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

from assist.audio.errors import AudioDeviceError

Backend = Literal["sounddevice", "soundcard"]
BACKENDS: tuple[Backend, ...] = ("sounddevice", "soundcard")
SOUNDCARD_HOST_API = {"linux": "PulseAudio", "win32": "WASAPI", "darwin": "CoreAudio"}


@dataclass(frozen=True)
class DeviceInfo:
    backend: Backend
    id: str  # what DeviceSpec.device takes: the PortAudio index or the soundcard id
    name: str
    host_api: str
    inputs: int
    outputs: int
    default_rate: float | None
    loopback: bool = False  # the sound of an output (monitor / WASAPI loopback): the call audio
    default: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeviceSpec:
    """Which device feeds a channel. ``device`` None: the system default for that channel."""

    backend: Backend
    device: str | None = None
    loopback: bool = False

    @classmethod
    def parse(cls, text: str, channel: str) -> DeviceSpec | None:
        """Settings text → spec. "" default; "none" off; "sounddevice:NAME" / "soundcard:NAME"; "NAME"."""
        text = text.strip()
        if text.lower() == "none":
            return None
        backend: Backend = "sounddevice" if channel == "manager" else "soundcard"
        prefix, sep, rest = text.partition(":")
        if sep and prefix in BACKENDS:
            backend, text = prefix, rest.strip()
        return cls(backend, text or None, loopback=channel == "client")

    def describe(self) -> str:
        return f"{self.backend}:{self.device}" if self.device else f"{self.backend}: по умолчанию"


def import_sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library is missing
        raise AudioDeviceError(f"PortAudio недоступен (sounddevice): {exc}") from exc
    return sounddevice


def import_soundcard() -> Any:
    """soundcard connects to the sound server on import; a failure becomes one clear line."""
    argv = sys.argv
    try:
        if argv[:1] == ["-c"]:  # soundcard names its client after sys.argv[1], absent under `python -c`
            sys.argv = ["sufler"]
        import soundcard
    except Exception as exc:  # AssertionError/RuntimeError when no PulseAudio, OSError without libpulse
        server = SOUNDCARD_HOST_API.get(sys.platform, "звуковой сервер")
        raise AudioDeviceError(f"{server} недоступен (soundcard): {type(exc).__name__} {exc}".strip()) from exc
    finally:
        sys.argv = argv
    # On Windows soundcard warns ("always") when WASAPI skipped audio; after its import so ours wins.
    warnings.filterwarnings("ignore", message="data discontinuity in recording")
    return soundcard


def _sounddevice_devices() -> list[DeviceInfo]:
    sd = import_sounddevice()
    apis = [api["name"] for api in sd.query_hostapis()]
    default_in, default_out = sd.default.device
    return [DeviceInfo("sounddevice", str(d["index"]), d["name"], apis[d["hostapi"]], d["max_input_channels"],
                       d["max_output_channels"], float(d["default_samplerate"]),
                       default=d["index"] in (default_in, default_out))
            for d in sd.query_devices()]


def _soundcard_devices() -> list[DeviceInfo]:
    sc = import_soundcard()
    api = SOUNDCARD_HOST_API.get(sys.platform, "soundcard")
    try:
        default_in = sc.default_microphone().id
    except Exception:  # no default source
        default_in = None
    return [DeviceInfo("soundcard", str(m.id), str(m.name), api, int(m.channels), 0, None,
                       loopback=bool(m.isloopback), default=m.id == default_in)
            for m in sc.all_microphones(include_loopback=True)]


def list_devices() -> tuple[list[DeviceInfo], list[str]]:
    """Every capture device both backends see, and one line per backend that is unavailable."""
    devices: list[DeviceInfo] = []
    problems: list[str] = []
    for lister in (_sounddevice_devices, _soundcard_devices):
        try:
            devices.extend(lister())
        except AudioDeviceError as exc:
            problems.append(str(exc))
        except Exception as exc:  # a backend that breaks while listing must not hide the other one
            problems.append(f"{lister.__name__.strip('_').split('_')[0]}: {type(exc).__name__}: {exc}")
    return devices, problems
