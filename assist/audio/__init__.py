"""Audio sources behind one interface: live capture (two devices) and WAV files, 16 kHz mono frames."""

from assist.audio.base import CHANNELS, TARGET_RATE, AudioFrame, AudioSource, BoundedQueue, Channel, level_dbfs
from assist.audio.devices import DeviceInfo, DeviceSpec, list_devices
from assist.audio.errors import AudioDeviceError, AudioError, WavError
from assist.audio.live import LiveSource
from assist.audio.wav import WavFileSource

__all__ = [
    "CHANNELS", "TARGET_RATE", "AudioDeviceError", "AudioError", "AudioFrame", "AudioSource", "BoundedQueue",
    "Channel", "DeviceInfo", "DeviceSpec", "LiveSource", "WavError", "WavFileSource", "level_dbfs", "list_devices",
]
