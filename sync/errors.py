"""What can go wrong when publishing or applying a playbook bundle; every message is one line."""

from __future__ import annotations


class SyncError(Exception):
    """Base of distribution failures; the CLI prints the message and exits 1."""


class BundleRejectedError(SyncError):
    """The bundle failed a check (signature, hash, channel, version, archive); nothing was applied."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"отклонено: {reason}")
        self.reason = reason


class BundleExpiredError(BundleRejectedError):
    """The bundle is past its expiry date: not applied, the user is told."""


class DownloadError(SyncError):
    """The bundle could not be fetched: too big, too slow, the channel is unreachable."""


class KeyFileError(SyncError):
    """A signing key cannot be created, read or decrypted."""


class PublishError(SyncError):
    """The admin's publish was refused (invalid playbook, version not newer, channel problem)."""


class StateError(SyncError):
    """The local state of playbook versions does not allow the request (nothing to roll back to)."""


class BusyError(SyncError):
    """Another process is applying a bundle right now."""
