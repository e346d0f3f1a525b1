"""The embedded Redis stand-in for local runs: fakeredis served over TCP on loopback.

`make run` starts one in its supervisor process so the web and worker processes share real
queues without a Redis installation. Not for production: it keeps everything in memory.
"""

from __future__ import annotations

import threading

from fakeredis import TcpFakeServer


class EmbeddedRedis:
    def __init__(self, port: int = 0):
        self.server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
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
