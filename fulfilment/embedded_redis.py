"""The embedded Redis stand-in for local runs: fakeredis served over TCP on loopback.

`make run` starts one in its supervisor process so the web and worker processes share real
queues without a Redis installation. Not for production: it keeps everything in memory.
"""

from __future__ import annotations

import select
import threading

from fakeredis import TcpFakeServer
from fakeredis._clients._tcp_server import TCPFakeRequestHandler
from redis.exceptions import ResponseError

_POLL = 0.1


class _Handler(TCPFakeRequestHandler):
    """fakeredis 2.40's handler drops the connection after any error reply (NOSCRIPT, unknown
    command), which breaks redis-py's EVALSHA → SCRIPT LOAD fallback used by RQ. This one
    answers the error and keeps serving the connection, as Redis does."""

    def handle(self) -> None:
        while not self.server._shutdown_event.is_set():
            try:
                if self.current_client.can_read():
                    self.writer.dump(self.current_client.read_response())
                    continue
                data = self.rfile.readline()
                if data == b"":
                    readable, _, _ = select.select([self.connection], [], [], _POLL)
                    if not readable:
                        continue
                    data = self.rfile.readline()
                    if data == b"":
                        break
                self.current_client.get_socket().sendall(data)
            except ResponseError as exc:
                self.writer.dump(exc)
            except ConnectionError:
                break


class EmbeddedRedis:
    def __init__(self, port: int = 0):
        self.server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
        self.server.RequestHandlerClass = _Handler
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="embedded-redis", daemon=True
        )

    def start(self) -> EmbeddedRedis:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
