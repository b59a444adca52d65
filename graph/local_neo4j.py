"""Boot, check and stop the real Neo4j Community engine from Neo4j's own jars on Maven Central.

Route 3 of DESIGN.md "Running Neo4j": no Docker, no server install. Maven gathers the jars once into
a cache; a tiny Java launcher embeds the database with the Bolt connector on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from graph.settings import Settings

RUNTIME = Path(__file__).with_name("neo4j_runtime")
NEO4J_VERSION = "5.26.30"
READY_LINE = "tracegraph-neo4j ready"


class LocalNeo4jError(RuntimeError):
    """The local Neo4j could not be prepared, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class LocalServer:
    uri: str
    user: str
    password: str
    pid: int | None


def _state_dir(settings: Settings) -> Path:
    return settings.home / "neo4j"


def _runtime_dir(settings: Settings) -> Path:
    return settings.cache_dir / f"neo4j-{NEO4J_VERSION}"


def _need(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise LocalNeo4jError(f"`{tool}` is not installed; {hint}")
    return path


def ensure_runtime(settings: Settings, *, log: Callable[[str], None] = print) -> Path:
    """Download the Neo4j jars (once) and compile the launcher (once); return the runtime folder."""
    runtime = _runtime_dir(settings)
    if (runtime / "READY").exists():
        _compile_launcher(runtime)
        return runtime
    mvn = _need("mvn", "install Maven (apt-get install maven) or set NEO4J_URI to an existing server")
    _need("javac", "install a JDK 17 or 21 (apt-get install openjdk-17-jdk-headless)")
    staging = runtime.with_name(runtime.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "lib").mkdir(parents=True)
    log(f"Downloading Neo4j {NEO4J_VERSION} Community jars from Maven Central into {runtime} (once)...")
    started = time.monotonic()
    done = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(RUNTIME / "pom.xml"),
            f"-Dneo4j.version={NEO4J_VERSION}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging / 'lib'}",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise LocalNeo4jError("Maven could not fetch the Neo4j jars:\n" + "\n".join(tail))
    (staging / "READY").write_text(NEO4J_VERSION)
    shutil.rmtree(runtime, ignore_errors=True)
    staging.rename(runtime)
    _compile_launcher(runtime)
    log(f"Neo4j runtime ready in {time.monotonic() - started:.0f} s.")
    return runtime


def _classes(runtime: Path) -> Path:
    """Where this version of Launcher.java is compiled: one folder per version of its source, so checkouts
    with different launchers sharing the cache never recompile under each other's running servers."""
    digest = hashlib.sha256((RUNTIME / "Launcher.java").read_bytes()).hexdigest()[:16]
    return runtime / f"classes-{digest}"


def _compile_launcher(runtime: Path) -> None:
    """Compile Launcher.java into the runtime once per version of its source (a changed launcher recompiles)."""
    classes = _classes(runtime)
    marker = classes / ".compiled"
    if marker.exists():
        return
    javac = _need("javac", "install a JDK 17 or 21 (apt-get install openjdk-17-jdk-headless)")
    staging = Path(tempfile.mkdtemp(prefix=classes.name + ".", dir=runtime))
    done = subprocess.run(
        [javac, "-cp", str(runtime / "lib" / "*"), "-d", str(staging), str(RUNTIME / "Launcher.java")],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise LocalNeo4jError("Could not compile the Neo4j launcher:\n" + done.stderr[-2000:])
    (staging / ".compiled").write_text("")
    try:
        staging.rename(classes)
    except OSError:  # another process compiled the same source meanwhile
        shutil.rmtree(staging, ignore_errors=True)


def _password(settings: Settings) -> str:
    path = _state_dir(settings) / "password"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return True
    return status != "Z"


def _bolt_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _read_pid(settings: Settings) -> int | None:
    path = _state_dir(settings) / "neo4j.pid"
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def _read_port(settings: Settings) -> int:
    try:
        return int((_state_dir(settings) / "bolt.port").read_text())
    except (OSError, ValueError):
        return settings.bolt_port


def status(settings: Settings) -> LocalServer | None:
    """The running local server, or None."""
    pid = _read_pid(settings)
    if pid is None:
        return None
    port = _read_port(settings)
    if not _bolt_answers(port):
        return None
    return LocalServer(f"bolt://127.0.0.1:{port}", "neo4j", _password(settings), pid)


def start(settings: Settings, *, timeout: float = 180.0, log: Callable[[str], None] = print) -> LocalServer:
    """Start the local Neo4j unless it already runs; return once Bolt answers."""
    running = status(settings)
    if running is not None:
        return running
    if _read_pid(settings) is not None:
        raise LocalNeo4jError(
            f"a Neo4j process from {_state_dir(settings)} is running but Bolt does not answer; "
            "run `tracegraph db stop` and try again"
        )
    port = settings.bolt_port
    if _bolt_answers(port):
        raise LocalNeo4jError(
            f"port {port} on 127.0.0.1 is taken by another program; set TRACEGRAPH_BOLT_PORT "
            "to a free port, or NEO4J_URI if that program is the Neo4j you want"
        )
    java = _need("java", "install Java 17 or 21 (apt-get install openjdk-17-jdk-headless)")
    runtime = ensure_runtime(settings, log=log)
    state = _state_dir(settings)
    (state / "data").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TRACEGRAPH_NEO4J_PASSWORD=_password(settings))
    log_path = state / "neo4j.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [
                java,
                f"-Xmx{settings.neo4j_heap}",
                "-XX:+UseG1GC",
                "-XX:+ExitOnOutOfMemoryError",
                "-cp",
                f"{_classes(runtime)}{os.pathsep}{runtime / 'lib' / '*'}",
                "Launcher",
                str((state / "data").resolve()),
                str(port),
                str(settings.neo4j_pagecache_mb),
                settings.neo4j_tx_log_retention,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # outlives the CLI that started it
        )
    (state / "neo4j.pid").write_text(str(process.pid))
    (state / "bolt.port").write_text(str(port))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            raise LocalNeo4jError(
                f"Neo4j exited with status {process.returncode}; last lines of {log_path}:\n" + "\n".join(tail)
            )
        if _bolt_answers(port) and READY_LINE in log_path.read_text(errors="replace"):
            return LocalServer(f"bolt://127.0.0.1:{port}", "neo4j", _password(settings), process.pid)
        time.sleep(0.3)
    process.terminate()
    raise LocalNeo4jError(f"Neo4j did not answer on port {port} within {timeout:.0f} s; see {log_path}")


def stop(settings: Settings, *, timeout: float = 60.0) -> bool:
    """Stop the local Neo4j cleanly (SIGTERM, then wait); False if none was running."""
    pid = _read_pid(settings)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        raise LocalNeo4jError(f"Neo4j (pid {pid}) did not stop within {timeout:.0f} s and was killed")
    (_state_dir(settings) / "neo4j.pid").unlink(missing_ok=True)
    return True
