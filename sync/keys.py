"""Ed25519 signing keys: the admin's private key (passphrase-protected PKCS8) and the desktops'
trusted public keys, each known by a short id (the first 16 hex digits of SHA-256 of the raw key)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.errors import KeyFileError

PRIVATE_FILE = "signing-key.pem"
PUBLIC_FILE = "signing-key.pub"
PREFIX = "ed25519:"


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_line(public: Ed25519PublicKey) -> str:
    """The one-line form pinned in the desktops' settings: ``ed25519:<base64 of the raw key>``."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public(text: str) -> Ed25519PublicKey:
    """A public key from its one-line form or from a PEM block."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
            if not isinstance(key, Ed25519PublicKey):
                raise KeyFileError("открытый ключ не Ed25519")
            return key
        body = text.split()[0] if text else ""
        if not body.startswith(PREFIX):
            raise KeyFileError(f"открытый ключ должен начинаться с '{PREFIX}'")
        raw = base64.b64decode(body[len(PREFIX):], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise KeyFileError(f"открытый ключ не читается: {exc}") from exc


@dataclass(frozen=True)
class KeyPairFiles:
    private: Path
    public: Path
    key_id: str
    line: str


def generate(out: Path, passphrase: str) -> KeyPairFiles:
    """Write a new key pair into ``out``; never overwrites an existing key."""
    if not passphrase:
        raise KeyFileError("пароль ключа не может быть пустым")
    private_path, public_path = out / PRIVATE_FILE, out / PUBLIC_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path}: файл уже есть, ключ не перезаписан")
    out.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(passphrase.encode("utf-8")))
    public = private.public_key()
    _write_new(private_path, pem, mode=0o600)
    line = public_line(public)
    ident = key_id(public)
    _write_new(public_path, f"{line} {ident}\n".encode("ascii"), mode=0o644)
    return KeyPairFiles(private_path, public_path, ident, line)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError as exc:
        raise KeyFileError(f"{path}: файл уже есть, ключ не перезаписан") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def load_private(folder: Path, passphrase: str) -> Ed25519PrivateKey:
    path = folder / PRIVATE_FILE if folder.is_dir() else folder
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: закрытый ключ не найден ({exc.strerror or exc})") from exc
    try:
        key = serialization.load_pem_private_key(data, password=passphrase.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: неверный пароль или файл ключа повреждён") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: ключ не Ed25519")
    return key


def load_public_folder(folder: Path) -> list[Ed25519PublicKey]:
    """Every public key in a folder (``*.pub`` and ``*.pem`` public keys), or a single file."""
    files = [folder] if folder.is_file() else sorted([*folder.glob("*.pub"), *folder.glob("*public*.pem")])
    if not files:
        raise KeyFileError(f"{folder}: открытых ключей (*.pub) не найдено")
    keys = []
    for path in files:
        try:
            keys.append(parse_public(path.read_text(encoding="ascii")))
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"{path}: открытый ключ не читается") from exc
        except KeyFileError as exc:
            raise KeyFileError(f"{path}: {exc}") from exc
    return keys


@dataclass
class TrustStore:
    """The keys a desktop accepts: by id, minus the revoked ids."""

    keys: dict[str, Ed25519PublicKey]
    revoked: frozenset[str]

    @classmethod
    def build(cls, lines: list[str], revoked: list[str],
              extra: list[Ed25519PublicKey] | None = None) -> TrustStore:
        keys: dict[str, Ed25519PublicKey] = {}
        for item in [*(parse_public(line) for line in lines), *(extra or [])]:
            keys[key_id(item)] = item
        return cls(keys, frozenset(r.strip().lower() for r in revoked if r.strip()))

    def verify(self, ident: str, signature: bytes, message: bytes) -> str | None:
        """None when the signature is good; otherwise why it is not."""
        if ident in self.revoked:
            return f"ключ {ident} отозван"
        key = self.keys.get(ident)
        if key is None:
            return f"ключ {ident} не входит в доверенные"
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return "подпись не совпадает (manifest.sig)"
        return None
