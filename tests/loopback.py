"""A loopback HTTP server for download tests: serves a directory on 127.0.0.1, with faulty variants."""

from __future__ import annotations

import contextlib
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


@contextlib.contextmanager
def serve(directory: Path, handler=QuietHandler):
    """Serve ``directory`` on 127.0.0.1 (free port); yield (base URL, list of requested paths)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def files_under(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
