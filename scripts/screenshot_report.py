"""Render the demo change's HTML evidence report in headless Chromium and check the screenshot shows the verdict.

    .venv/bin/python scripts/screenshot_report.py [--load-demo] [--change acme/shop#42] [--png report.png]
    .venv/bin/python scripts/screenshot_report.py --html some-report.html --expect UNVERIFIED

It reads the graph tracegraph is configured for (NEO4J_URI, or the local `tracegraph db start` server);
`--load-demo` first ingests the built-in demo (idempotent). The check decodes the PNG with the standard
library (zlib) and counts the pixels of the verdict banner's colour. Exit 0 when the banner is there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from export.html import UNVERIFIED_COLOR, VERIFIED_COLOR  # noqa: E402

WINDOW = (1200, 1600)
# The banner is 40 px tall at least and most of the page wide: far more pixels than any other use of the colour.
MIN_BANNER_PIXELS = 20_000


def chromium() -> str | None:
    """The Chromium binary (Debian's `chromium`), or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot(html: Path, png: Path, *, binary: str | None = None, timeout: float = 120) -> None:
    """Open the file in headless Chromium (no network, throwaway profile) and save a screenshot."""
    exe = binary or chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="tracegraph-chromium-") as profile:
        command = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            html.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr.strip()[-500:]}")


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png_rows(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(channels, row bytes) per row of an 8-bit RGB/RGBA PNG, decoded with zlib and the PNG filters."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, bytearray(), b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {color}, interlace {interlace})")
    channels = 3 if color == 2 else 4
    stride = width * channels
    raw = zlib.decompress(bytes(idat))
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                upper_left = previous[i - channels] if i >= channels else 0
                line[i] = (line[i] + _paeth(left, previous[i], upper_left)) & 0xFF
        previous = line
        yield channels, bytes(line)


def count_colours(png: bytes, colours: list[str], *, tolerance: int = 6, rows: int | None = None) -> list[int]:
    """Per colour, how many pixels (in the first `rows` rows) are within `tolerance` of it on every channel."""
    targets = [tuple(int(c.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)) for c in colours]
    found = [0] * len(targets)
    for y, (channels, line) in enumerate(png_rows(png)):
        if rows is not None and y >= rows:
            break
        for x in range(0, len(line), channels):
            pixel = line[x : x + 3]
            for n, target in enumerate(targets):
                if (
                    abs(pixel[0] - target[0]) <= tolerance
                    and abs(pixel[1] - target[1]) <= tolerance
                    and abs(pixel[2] - target[2]) <= tolerance
                ):
                    found[n] += 1
    return found


def check(png: Path, expect: str) -> tuple[bool, str]:
    """Whether the screenshot shows the expected verdict's banner (and not the other one)."""
    colours = [VERIFIED_COLOR, UNVERIFIED_COLOR] if expect == "VERIFIED" else [UNVERIFIED_COLOR, VERIFIED_COLOR]
    # The verdict comes first on the page: the top 700 rows hold its banner.
    wanted, other = count_colours(png.read_bytes(), colours, rows=700)
    ok = wanted >= MIN_BANNER_PIXELS and wanted > 4 * other
    return ok, f"{expect} banner colour: {wanted} px in the top 700 rows (other verdict colour: {other} px)"


async def _demo_html(change: str, load_demo: bool) -> tuple[str, str]:
    from cli.export import scope_from_options
    from export.html import html_text
    from export.scope import collect
    from graph.driver import connected
    from graph.policy import load_policy
    from graph.settings import get_settings
    from ingest.demo import envelopes
    from ingest.pipeline.events import to_event
    from ingest.runner import ingest_events

    settings = get_settings()
    policy = load_policy(settings.policy_file)
    async with connected(settings, ensure=load_demo) as graph:
        if load_demo:
            events = [to_event(e, json.dumps(e), f"demo:{e['id']}", source=None, type=None) for e in envelopes()]
            await ingest_events(graph, events, quarantine_dir=settings.quarantine_dir)  # type: ignore[arg-type]
        exported = await collect(graph, policy, scope_from_options(change, None, None, None))
    return html_text(exported, generated_at=datetime.now(UTC)), exported.answers[0].verdict.status.value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--change", default="acme/shop#42", help="change to report on [acme/shop#42]")
    parser.add_argument("--load-demo", action="store_true", help="ingest the built-in demo first")
    parser.add_argument("--html", type=Path, help="check this report instead of exporting one")
    parser.add_argument("--expect", choices=["VERIFIED", "UNVERIFIED"], help="verdict the page must show")
    parser.add_argument("--png", type=Path, default=Path("report.png"), help="where to save the screenshot")
    args = parser.parse_args()
    if chromium() is None:
        print("error: chromium is not installed (apt-get install -y chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tracegraph-report-") as tmp:
        html = args.html
        expect = args.expect
        if html is None:
            try:
                text, verdict = asyncio.run(_demo_html(args.change, args.load_demo))
            except Exception as exc:  # noqa: BLE001 - a script: say what failed, in one line
                print(f"error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
                return 2
            html = Path(tmp) / "report.html"
            html.write_text(text, encoding="utf-8")
            expect = expect or verdict
        if expect is None:
            print("error: with --html, say which verdict to look for (--expect)", file=sys.stderr)
            return 2
        screenshot(html, args.png)
    ok, detail = check(args.png, expect)
    print(f"{'ok' if ok else 'FAILED'}: {detail}; screenshot {args.png}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
