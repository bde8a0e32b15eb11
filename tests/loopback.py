"""A loopback HTTP server for download tests: serves a directory on 127.0.0.1, with faulty variants."""

from __future__ import annotations

import contextlib
import functools
import io
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: Seconds between the bytes of a dripped file.
DRIP_S = 0.05


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves a directory read-only (GET/HEAD) and records every requested path."""

    def log_message(self, format, *args):
        self.server.requests.append(self.path)


class FlipByteHandler(QuietHandler):
    """Serves 100.dat with its 1000th byte inverted (same length)."""

    def copyfile(self, source, outputfile):
        data = bytearray(source.read())
        if self.path.endswith("/100.dat"):
            data[999] ^= 0xFF
        outputfile.write(bytes(data))


class DropHandler(QuietHandler):
    """Sends the full Content-Length for 100.dat, then closes after half of it."""

    def copyfile(self, source, outputfile):
        data = source.read()
        if self.path.endswith("/100.dat"):
            data = data[: len(data) // 2]
            self.close_connection = True
        outputfile.write(data)


class DripHandler(QuietHandler):
    """Sends 100.dat's headers (full Content-Length), then one byte every :data:`DRIP_S`."""

    def copyfile(self, source, outputfile):
        if not self.path.endswith("/100.dat"):
            return super().copyfile(source, outputfile)
        with contextlib.suppress(OSError):  # the client gave up
            for byte in iter(lambda: source.read(1), b""):
                if self.server.stopping.wait(DRIP_S):
                    return
                outputfile.write(byte)


class StallHandler(QuietHandler):
    """Sends 100.dat's headers and first 1000 bytes, then nothing until the server stops."""

    def copyfile(self, source, outputfile):
        if not self.path.endswith("/100.dat"):
            return super().copyfile(source, outputfile)
        with contextlib.suppress(OSError):
            outputfile.write(source.read(1000))
            self.server.stopping.wait()


class EndlessHandler(QuietHandler):
    """Answers 100.dat without Content-Length and streams zeros until the client hangs up."""

    def send_head(self):
        if not self.path.endswith("/100.dat"):
            return super().send_head()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        return io.BytesIO()

    def copyfile(self, source, outputfile):
        if not self.path.endswith("/100.dat"):
            return super().copyfile(source, outputfile)
        with contextlib.suppress(OSError):
            while not self.server.stopping.is_set():
                outputfile.write(bytes(1 << 16))


@contextlib.contextmanager
def serve(directory: Path, handler=QuietHandler):
    """Serve ``directory`` on 127.0.0.1 (free port); yield (base URL, list of requested paths)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    server.requests = []
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


def files_under(directory: Path) -> list[str]:
    """Every file under ``directory`` (hidden ones included), relative, sorted."""
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
