"""A real nats-server with JetStream for the tests and the benches: 127.0.0.1, a free port, file storage in a folder.

Debian's `nats-server` (installed by `scripts/bootstrap.sh dev`), booted the way graph.local_neo4j boots
Neo4j, so nothing stands in for the broker. tracegraph itself never starts NATS: a deployment points
TRACEGRAPH_NATS_URL at its own servers.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

READY = "Server is ready"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalNats:
    """One nats-server process whose store survives its restarts (same folder, same port)."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.folder / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and return once it says it is ready (JetStream recovered its store)."""
        binary = shutil.which("nats-server")
        if binary is None:
            raise RuntimeError(
                "nats-server is not installed: run `bash scripts/bootstrap.sh dev` (Debian's nats-server)"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "nats.conf"
        config.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            "max_payload: 8MB\n"  # webhook bodies of up to TRACEGRAPH_MAX_BODY_BYTES (5 MB) and their envelope
            f'jetstream {{ store_dir: "{self.folder / "jetstream"}", max_memory_store: 64MB, max_file_store: 4GB }}\n'
        )
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [binary, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited at start: {self.log.read_text()[offset:][-2000:]}")
            with open(self.log, "rb") as log:
                log.seek(offset)
                if READY in log.read().decode(errors="replace"):
                    return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"nats-server was not ready within {timeout:.0f} s (log: {self.log})")

    def stop(self) -> None:
        """Stop it cleanly (SIGTERM), or kill it when it does not stop."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: what a crash looks like to the clients and the store."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=15)
        self.proc = None
