"""`tracegraph metrics`: DORA metrics and AI-era signals as a table, JSON, or a chart of the weekly series."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import click

from cli.common import echo, fail, line, user_errors
from export.archive import write_file
from governance.exceptions import counts
from governance.models import ExceptionCounts
from graph import metrics as m
from graph.driver import Graph, run_with_graph
from graph.metrics.rules import utc
from graph.policy import load_policy
from graph.settings import get_settings

DEFAULT_DAYS = 90


def _moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write 2026-01-31 or 2026-01-31T12:00:00Z") from None


@click.command("metrics")
@click.option("--service", help="One service (all services when left out).")
@click.option("--from", "start", callback=_moment, help=f"Window start, inclusive [--to minus {DEFAULT_DAYS} days].")
@click.option("--to", "end", callback=_moment, help="Window end, exclusive [now].")
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path), help="Write the weekly series to .svg/.png.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON (the GraphQL field names).")
@user_errors
def metrics(
    service: str | None, start: datetime | None, end: datetime | None, chart: Path | None, as_json: bool
) -> None:
    """Deployment frequency, lead time, change failure rate, time to restore, and the AI-era signals."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    start = start or end - timedelta(days=DEFAULT_DAYS)
    if chart is not None and chart.suffix.lower() not in (".svg", ".png"):
        fail(f"cannot write a chart to {chart}: use a .svg (or .png) file name")
    settings = get_settings()
    policy = load_policy(settings.policy_file)

    async def work(graph: Graph) -> tuple[m.Metrics, ExceptionCounts]:
        found = await m.metrics(graph, policy, service=service, start=start, end=end)
        return found, await counts(graph, policy, start=start, end=end, service=service, now=datetime.now(UTC))

    found, exceptions = run_with_graph(settings, work, ensure=True)
    if chart is not None:
        write_chart(found, chart)
    if as_json:
        data = {**found.model_dump(mode="json", by_alias=True), "exceptions": exceptions.model_dump(by_alias=True)}
        echo(json.dumps(data, indent=2))
    else:
        echo(metrics_text(found))
        echo(exceptions_line(exceptions))
    if chart is not None:
        echo(f"chart of the weekly series written to {chart}", err=True)


def exceptions_line(found: ExceptionCounts) -> str:
    """The break-glass exceptions of the window, and how many are gaps of their own."""
    return (
        f"{'break-glass exceptions':<32}{found.in_force} in force ({found.granted} granted in the window, "
        f"{found.emergency} emergency); {found.with_gaps} with gaps: {found.unreviewed} emergency not reviewed, "
        f"{found.expired_unverified} expired while the change is not VERIFIED"
    )


# --- the table ----------------------------------------------------------------------------------


def _pct(r: m.Rate) -> str:
    return "—" if r.value is None else f"{r.value:.1%} ({r.numerator} of {r.denominator})"


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 24:.1f} d" if value >= 48 else f"{value:.1f} h"


def _durations(d: m.Durations, what: str) -> str:
    return f"median {_hours(d.median_hours)} · p90 {_hours(d.p90_hours)} ({d.count} {what})"


def _usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def metrics_text(found: m.Metrics) -> str:
    """The metrics as a table a person reads in a terminal."""
    span = f"{found.window_start:%Y-%m-%d %H:%M} → {found.window_end:%Y-%m-%d %H:%M} UTC ({found.days:g} days)"
    rows: list[tuple[str, str]] = [
        (
            "deployment frequency",
            f"{found.deployments} production deployments · {found.deployments_per_week:.2f}/week"
            f" · {found.deployments_per_day:.2f}/day",
        ),
        ("lead time for changes", _durations(found.lead_time, "changes shipped")),
        ("change failure rate", _pct(found.change_failure_rate)),
        *[(f"  {line(f.id)}", line("; ".join(f.reasons))) for f in found.failed_deployments],
        (
            "time to restore",
            _durations(found.time_to_restore, "incidents resolved")
            + (f", {found.unresolved_incidents} unresolved" if found.unresolved_incidents else ""),
        ),
        ("", ""),
        ("changes merged", str(found.merged_changes)),
        ("AI-assisted changes", _pct(found.ai_assisted_share)),
        ("change failure rate, AI", _pct(found.change_failure_rate_ai)),
        ("change failure rate, human", _pct(found.change_failure_rate_human)),
        (
            "median agent diff size",
            "—" if found.median_agent_diff_size is None else f"{found.median_agent_diff_size:g} lines",
        ),
        ("behaviour changes with tests", _pct(found.test_delta_share)),
        ("independent approval", _pct(found.independent_approval_share)),
        ("evidence coverage", _pct(found.evidence_coverage)),
        (
            "AI spend",
            f"{_usd(found.ai_spend_usd)} · {_usd(found.ai_spend_per_engineer_month_usd)} per engineer per month",
        ),
        *[
            (f"  {line(s.month)}", f"{_usd(s.cost_usd)} · {s.engineers} engineer(s) · {_usd(s.per_engineer_usd)} each")
            for s in found.ai_spend_months
        ],
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"metrics for {line(found.service or 'all services')}  {span}", ""]
    lines += [f"  {label.ljust(width)}  {value}".rstrip() for label, value in rows]
    lines += ["", f"  {'week':<9} {'deploys':>7} {'failed':>6} {'AI share':>8} {'lead time':>9}"]
    for w in found.weekly:
        share = "—" if w.ai_assisted_share is None else f"{w.ai_assisted_share:.0%}"
        # One unit down the column, so weeks compare at a glance.
        lead = "—" if w.median_lead_time_hours is None else f"{w.median_lead_time_hours:.1f} h"
        lines.append(f"  {w.week:<9} {w.deployments:>7} {w.failures:>6} {share:>8} {lead:>9}")
    return "\n".join(lines)


# --- the chart ----------------------------------------------------------------------------------

WIDTH, PANEL, TOP, LEFT, RIGHT, GAP = 760, 120, 56, 64, 24, 44
COLOURS = {"deployments": "#4c78a8", "failures": "#e45756", "ai": "#7b4fa0", "lead": "#54a24b"}


def _panel(index: int, title: str, top_value: float, unit: str) -> tuple[list[str], float]:
    """A panel's frame, title and y labels; returns them and the panel's baseline y."""
    y0 = TOP + index * (PANEL + GAP)
    base = y0 + PANEL
    parts = [
        f'<text x="{LEFT}" y="{y0 - 8}" class="title">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" class="axis"/>',
        f'<line x1="{LEFT}" y1="{y0}" x2="{LEFT}" y2="{base}" class="axis"/>',
        f'<text x="{LEFT - 6}" y="{y0 + 4}" class="tick" text-anchor="end">{top_value:g}{unit}</text>',
        f'<text x="{LEFT - 6}" y="{base + 4}" class="tick" text-anchor="end">0{unit}</text>',
    ]
    return parts, base


def _line(name: str, xs: list[float], values: list[float | None], top: float, base: float) -> list[str]:
    """A polyline per run of known values, and a dot on each."""
    scale = PANEL / top if top else 0
    points = [(x, base - v * scale) if v is not None else None for x, v in zip(xs, values, strict=True)]
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            runs.append([])
        else:
            runs[-1].append(point)
    parts = [f'<g class="series" data-series="{name}" fill="{COLOURS[name]}" stroke="{COLOURS[name]}">']
    for run in runs:
        if len(run) > 1:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            parts.append(f'<polyline points="{coords}" fill="none" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in run]
    return [*parts, "</g>"]


def chart_svg(found: m.Metrics) -> str:
    """The weekly series as an SVG: deployments and failures, AI-assisted share, median lead time."""
    weeks = found.weekly
    n = max(len(weeks), 1)
    step = (WIDTH - LEFT - RIGHT) / n
    xs = [LEFT + step * (i + 0.5) for i in range(len(weeks))]
    height = TOP + 3 * PANEL + 2 * GAP + 48
    title = f"{found.service or 'all services'}: {found.window_start:%Y-%m-%d} → {found.window_end:%Y-%m-%d}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">',
        "<style>.title{font-size:13px;font-weight:bold}.tick{font-size:10px;fill:#555}"
        ".axis{stroke:#999;stroke-width:1}</style>",
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="15">{escape(title)}</text>',
    ]
    top_deploys = max([w.deployments for w in weeks] + [w.failures for w in weeks] + [1])
    parts, base = _panel(0, "Production deployments per week (red: failed)", top_deploys, "")
    out += parts
    bar = step * 0.6
    for name, values in (("deployments", [w.deployments for w in weeks]), ("failures", [w.failures for w in weeks])):
        out.append(f'<g class="series" data-series="{name}" fill="{COLOURS[name]}">')
        for x, v in zip(xs, values, strict=True):
            if v:
                h = v / top_deploys * PANEL
                out.append(
                    f'<rect x="{x - bar / 2:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                    f"<title>{v}</title></rect>"
                )
        out.append("</g>")
    parts, base = _panel(1, "AI-assisted share of merged changes", 100, "%")
    out += parts + _line(
        "ai", xs, [None if w.ai_assisted_share is None else w.ai_assisted_share * 100 for w in weeks], 100, base
    )
    leads = [w.median_lead_time_hours for w in weeks]
    top_lead = max([v for v in leads if v is not None] + [1.0])
    parts, base = _panel(2, "Median lead time for changes (hours)", round(top_lead, 1), " h")
    out += parts + _line("lead", xs, leads, top_lead, base)
    every = max(1, round(len(weeks) / 12))
    out += [
        f'<text x="{x:.1f}" y="{base + 16}" class="tick" text-anchor="middle">{escape(w.week)}</text>'
        for i, (x, w) in enumerate(zip(xs, weeks, strict=True))
        if i % every == 0
    ]
    return "\n".join([*out, "</svg>"]) + "\n"


def write_chart(found: m.Metrics, path: Path) -> None:
    """Write the chart as SVG, or as PNG through headless Chromium when it is installed."""
    svg = chart_svg(found)
    # A chart replaces the one a previous run wrote, but is never written through a link.
    if path.suffix.lower() == ".svg":
        write_file(path, svg.encode(), force=True)
        return
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        raise m.MetricsError(f"a PNG chart needs Chromium (apt-get install chromium); write {path.stem}.svg instead")
    height = svg.split('height="', 1)[1].split('"', 1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        source, shot = Path(tmp) / "chart.svg", Path(tmp) / "chart.png"
        source.write_text(svg)
        done = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={WIDTH},{height}",
                f"--screenshot={shot}",
                source.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0 or not shot.exists():
            raise m.MetricsError(f"Chromium could not render {path}; write {path.stem}.svg instead")
        write_file(path, shot.read_bytes(), force=True)
