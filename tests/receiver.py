"""A scripted local webhook receiver: answers from a list, records every request."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Receiver:
    answers: list[tuple[int, dict[str, str]] | str] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.received.append(
            {"headers": dict(request.headers), "body": request.get_data(as_text=True)}
        )
        answer = self.answers.pop(0) if self.answers else (200, {})
        if answer == "hang":
            time.sleep(15)
            answer = (200, {})
        status, headers = answer
        return Response("ok" if status < 300 else "nope", status=status, headers=headers)(
            environ, start_response
        )


def start_receiver(answers: list[Any] | None = None) -> tuple[Receiver, Any]:
    receiver = Receiver(answers=list(answers or []))
    server = make_server("127.0.0.1", 0, receiver, threaded=True)
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server
