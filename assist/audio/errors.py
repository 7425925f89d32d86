"""Audio errors: each is one line for the user, naming the file or device and the channel."""

from __future__ import annotations


class AudioError(Exception):
    """Audio cannot be read or captured; the message is one line for the user."""


class WavError(AudioError):
    """A WAV file is missing, unreadable or in a format we do not take."""


class AudioDeviceError(AudioError):
    """A capture device is missing, busy or failed; ``channel`` says which side of the call."""

    def __init__(self, message: str, channel: str | None = None) -> None:
        super().__init__(message)
        self.channel = channel
