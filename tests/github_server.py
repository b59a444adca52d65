"""A local GitHub REST API for the tests: the two endpoints tracegraph answers GitHub through, on
127.0.0.1 and a free port, with GitHub's documented request rules, status codes and response shapes.

- POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule ("Review custom deployment
  protection rules for a workflow run"): JSON {environment_name, state: approved|rejected, comment};
  204 No Content, 422 for a body GitHub would refuse.
- POST /repos/{owner}/{repo}/statuses/{sha} ("Create a commit status"): JSON {state: error|failure|
  pending|success, target_url, description, context}; 201 with the status object (the shape of GitHub's
  recorded answer: url, avatar_url, id, node_id, state, description, target_url, context, created_at,
  updated_at, creator).
- A missing or wrong `Authorization: Bearer <token>` is 401 {"message": "Bad credentials"}; anything else 404.

Every request is recorded (method, path, headers, parsed body) for the tests to read.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DOCS = "https://docs.github.com/rest"
PROTECTION = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/deployment_protection_rule$")
STATUSES = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/statuses/(?P<sha>[0-9a-f]{40})$")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class GitHubServer:
    """The server, its token, and what it received."""

    token: str
    requests: list[Recorded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _statuses: int = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> GitHubServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        github = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # quiet: the tests read `requests`
                pass

            def _send(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                github.requests.append(Recorded("POST", self.path, dict(self.headers.items()), body))
                if self.headers.get("Authorization") != f"Bearer {github.token}":
                    return self._send(401, {"message": "Bad credentials", "documentation_url": DOCS})
                if match := PROTECTION.match(self.path):
                    return self._protection(body)
                if match := STATUSES.match(self.path):
                    return self._status(match, body)
                return self._send(404, {"message": "Not Found", "documentation_url": DOCS})

            def _invalid(self, why: str) -> None:
                self._send(422, {"message": f"Invalid request.\n\n{why}", "documentation_url": DOCS})

            def _protection(self, body: Any) -> None:
                if not isinstance(body, dict) or not isinstance(body.get("environment_name"), str):
                    return self._invalid("environment_name wasn't supplied.")
                if body.get("state") not in ("approved", "rejected"):
                    return self._invalid("state is not a member of [approved, rejected].")
                if "comment" in body and not isinstance(body["comment"], str):
                    return self._invalid("comment is not a string.")
                return self._send(204)

            def _status(self, match: re.Match[str], body: Any) -> None:
                if not isinstance(body, dict) or body.get("state") not in ("error", "failure", "pending", "success"):
                    return self._invalid("state is not a member of [error, failure, pending, success].")
                github._statuses += 1
                owner, repo, sha = match["owner"], match["repo"], match["sha"]
                now = "2026-07-01T12:00:00Z"
                return self._send(
                    201,
                    {
                        "url": f"https://api.github.com/repos/{owner}/{repo}/statuses/{sha}",
                        "avatar_url": "https://avatars.githubusercontent.com/u/9919?v=4",
                        "id": 18402522000 + github._statuses,
                        "node_id": "SC_kwDOHrjsos8AAAAESOAz7g",
                        "state": body["state"],
                        "description": body.get("description"),
                        "target_url": body.get("target_url"),
                        "context": body.get("context", "default"),
                        "created_at": now,
                        "updated_at": now,
                        "creator": {"login": "tracegraph[bot]", "id": 9919, "type": "Bot", "site_admin": False},
                    },
                )

        return Handler
