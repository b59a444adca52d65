"""A provider API on 127.0.0.1 for the collectors' tests and bench: real HTTP, scripted faults, a request log.

Each provider fake (github.py, gitlab.py, ...) answers `route(request)`; this base serves it on a free
port in a thread, checks the credential, counts and logs every request, adds the provider's rate-limit
headers, and plays the faults a test queued (a 502 burst, a secondary limit with Retry-After, an
exhausted budget) before the real answer. Shapes follow the providers' published responses, modelled
on the recordings in ../shared/corpus (see each fake's docstring).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    operation: str | None = None  # GraphQL operation name

    @property
    def label(self) -> str:
        return f"graphql:{self.operation}" if self.operation else f"{self.method} {self.path}"


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Offer an ETag of the body and honour If-None-Match (304).
    etag: bool = False


@dataclass
class Fault:
    """Answer `times` requests whose label starts with `match` with this instead of the real answer."""

    match: str
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    # Run before answering (e.g. to spend the budget): gets the fake.
    effect: Callable[[FakeApi], None] | None = None


class FakeApi:
    """Base of the provider fakes: serve, authenticate, count, fault, log."""

    auth_header = "authorization"
    token_prefix = "Bearer "

    def __init__(self, token: str, *, delay: float = 0.0):
        self.token = token
        self.delay = delay
        self.log: list[tuple[str, int]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.limit = 5000
        self.remaining = 5000
        self.tokens_seen: set[str] = set()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # --- to override -------------------------------------------------------------------------

    def route(self, request: Request) -> Answer:
        raise NotImplementedError

    def limit_headers(self, request: Request) -> dict[str, str]:
        return {}

    def operation(self, body: Any) -> str | None:
        return None

    def spend(self, request: Request) -> None:
        self.remaining = max(0, self.remaining - 1)

    # --- serving ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                body = json.loads(raw) if raw else None
                request = Request(
                    self.command,
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                request.operation = fake.operation(body)
                status, headers, payload = fake.answer(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve  # noqa: N815 - http.server's naming

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- answering -------------------------------------------------------------------------------

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            status, headers, payload = self._answer(request)
            self.log.append((request.label, status))
        return status, headers, payload

    def _answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        given = request.headers.get(self.auth_header, "")
        self.tokens_seen.add(given)
        if given != f"{self.token_prefix}{self.token}":
            return self._encode(Answer(401, {"message": "Bad credentials"}), request)
        for fault in self.faults:
            if fault.times > 0 and request.label.startswith(fault.match):
                fault.times -= 1
                if fault.effect:
                    fault.effect(self)
                return self._encode(Answer(fault.status, fault.body, dict(fault.headers)), request)
        self.spend(request)
        return self._encode(self.route(request), request)

    def _encode(self, answer: Answer, request: Request) -> tuple[int, dict[str, str], bytes]:
        payload = b"" if answer.body is None else json.dumps(answer.body).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", **self.limit_headers(request)}
        headers.update(answer.headers)
        if answer.etag and answer.status == 200:
            tag = 'W/"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
            headers["ETag"] = tag
            if request.headers.get("if-none-match") == tag:
                return 304, headers, b""
        return answer.status, headers, payload

    # --- what tests read -------------------------------------------------------------------------

    def count(self, prefix: str = "") -> int:
        """Requests whose label starts with `prefix` (all when empty)."""
        return sum(1 for label, _ in self.log if label.startswith(prefix))


def page_links(base: str, path: str, query: dict[str, str], page: int, last: int) -> str:
    """A Link header like GitHub's and GitLab's: next and last (and prev/first when not on page 1)."""

    def url(n: int) -> str:
        params = "&".join(f"{k}={v}" for k, v in {**query, "page": str(n)}.items())
        return f"<{base}{path}?{params}>"

    links = []
    if page < last:
        links += [f'{url(page + 1)}; rel="next"', f'{url(last)}; rel="last"']
    if page > 1:
        links += [f'{url(page - 1)}; rel="prev"', f'{url(1)}; rel="first"']
    return ", ".join(links)
