"""Where a collection of one resource stands: what the last run saw, and where an unfinished run stopped.

Two shapes of API listing are read incrementally:

- newest first (GitHub's pull requests by updatedAt, deployments and workflow runs by creation,
  Opsgenie alerts by updatedAt): read pages until the first record older than `stop`, the newest
  time the previous complete run saw. While a run is under way its page cursor is saved with the
  `stop` it works towards and the newest time it saw; a killed run resumes from that page. New
  records that arrive meanwhile are newer than that newest time, so the next run picks them up.
- oldest first with a time filter (GitLab's `updated_after`): the last written record's time is the
  filter of the next request, so resuming after a kill and the next run are the same thing.

A record that can still change without moving its sort key (a deployment still in progress, a
workflow run still running) holds the next run's `stop` back to its own time, so it is read again.
All times are canonical ISO-8601 UTC strings ('YYYY-MM-DDTHH:MM:SSZ'), which sort as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.timestamps import iso


def later(*times: str | None) -> str | None:
    """The latest of some times (None when none is known)."""
    known = [t for t in times if t]
    return max(known) if known else None


def earlier(*times: str | None) -> str | None:
    """The earliest of some times (None when none is known)."""
    known = [t for t in times if t]
    return min(known) if known else None


@dataclass
class NewestFirst:
    """A newest-first scan of one resource, resumable page by page."""

    saved: dict[str, Any]
    since: str | None = None
    after: Any = None
    stop: str | None = None
    newest: str | None = None
    unfinished: str | None = None
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        run = self.saved.get("run")
        if isinstance(run, dict):
            self.after = run.get("after")
            self.stop = run.get("stop")
            self.newest = run.get("newest")
            self.unfinished = run.get("unfinished")
        else:
            self.stop = later(self.saved.get("next"), iso(self.since))

    def keep(self, at: Any, *, finished: bool = True) -> bool:
        """Whether a record sorted at `at` is new to this scan; an older one ends the scan."""
        when = iso(at)
        if self.stop and when and when < self.stop:
            self.done = True
            return False
        self.newest = later(self.newest, when)
        if not finished:
            self.unfinished = earlier(self.unfinished, when)
        return True

    def checkpoint(self, after: Any, *, has_next: bool) -> dict[str, Any]:
        """The state to save once the page just read is written."""
        if self.done or not has_next:
            self.done = True
            # The next run stops at the newest record seen, or earlier at one still in progress.
            found = self.unfinished or self.newest
            return {**self.extra, "next": found or self.saved.get("next") or iso(self.since)}
        self.after = after
        run = {"after": after, "stop": self.stop, "newest": self.newest, "unfinished": self.unfinished}
        return {**self.extra, "next": self.saved.get("next"), "run": run}


@dataclass
class OldestFirst:
    """An oldest-first scan filtered by time (GitLab's `updated_after`, inclusive).

    Each request asks for records from `next`, the time of the last record written; when a whole page
    shares that time, the page number moves on instead. Resuming and the next run are the same thing.
    """

    saved: dict[str, Any]
    since: str | None = None
    next: str | None = None
    page: int = 1
    done: bool = False

    def __post_init__(self) -> None:
        self.next = later(self.saved.get("next"), iso(self.since))
        self.page = int(self.saved.get("page") or 1)

    def checkpoint(self, times: list[Any], *, full: bool) -> dict[str, Any]:
        """The state once a page with records at `times` (in order) is written; `full`: a whole page came."""
        last = iso(times[-1]) if times else None
        if not full:
            self.done = True
        if last and last != self.next:
            self.next, self.page = later(self.next, last), 1
        elif full:
            self.page += 1
        return {"next": self.next, "page": self.page} if not self.done else {"next": self.next}
