"""What shipping a commit adds to an environment, from git ancestry (pure: the reads are graph.governance's).

The rules, so a gate's answer can be checked by hand:

- The *range* of a shipment of commit T over base B (what runs there now, or nothing) is every commit
  reachable from T through git parents, minus every commit reachable from B (each walk at most
  ANCESTRY_DEPTH generations, like the trace and the metrics).
- The *changes it adds* are those whose final head or merge commit is in the range (the metrics' rule
  for what a deployment ships).
- The *mainline* of the range is T and, from each mainline commit, its first parent (git's order; when
  only unordered PARENT edges are known, every parent) until B's ancestry. Every mainline commit must
  belong to a merged change (contained in it, merged as it, or pushed together with its head): one that
  does not was shipped outside the reviewed flow, or from a branch.
- Where the walk cannot see (a mainline commit whose parents the graph does not hold, or the walk's
  bound reached before B), what the shipment adds is unknown: a gap, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graph.governance import CommitFacts, Walk
from graph.queries.governance import ANCESTRY_DEPTH
from graph.verdict import short


@dataclass
class Range:
    """What a shipment of `target` over `base` adds."""

    target: str
    base: str | None
    commits: set[str] = field(default_factory=set)
    change_ids: list[str] = field(default_factory=list)
    # Mainline commits that belong to no merged change.
    outside: list[str] = field(default_factory=list)
    # Mainline commits whose parents the graph does not hold (the walk cannot go on from them).
    blind: list[str] = field(default_factory=list)
    # The walk's bound was reached before the base.
    truncated: bool = False

    def gaps(self, environment: str) -> list[str]:
        """The shipment's own gaps, one per kind of problem."""
        found = []
        for sha in self.outside:
            what = f"the commit being shipped, {short(sha)}," if sha == self.target else f"commit {short(sha)}"
            found.append(f"{what} belongs to no merged change: shipped outside the reviewed flow, or from a branch")
        since = f"what runs in {environment} ({short(self.base)})" if self.base else f"the start of {environment}"
        for sha in self.blind:
            found.append(
                f"git ancestry stops at {short(sha)} (its parents are not in the graph), so what shipping "
                f"{short(self.target)} adds since {since} cannot be known"
            )
        if self.truncated:
            found.append(
                f"more than {ANCESTRY_DEPTH} generations of commits lie between {since} and {short(self.target)}; "
                "the gate does not see all of them"
            )
        return found


def compute(target: str, base: str | None, *, walks: dict[str, Walk], facts: dict[str, CommitFacts]) -> Range:
    """The range of a shipment of `target` over `base` (see the module's rules)."""
    reach = set(walks[target].reached) if target in walks else {target}
    before = set(walks[base].reached) if base and base in walks else set()
    result = Range(target=target, base=base, commits=reach - before)
    result.change_ids = sorted(
        {tie.id for sha in result.commits if sha in facts for tie in facts[sha].ties if tie.ships}
    )
    seen: set[str] = set()
    frontier = [target]
    while frontier:
        sha = frontier.pop()
        if sha in seen or sha in before:
            continue
        seen.add(sha)
        if sha not in reach:
            result.truncated = True  # a parent beyond the walk's bound
            continue
        found = facts.get(sha)
        if found is None or not any(tie.merged for tie in found.ties):
            result.outside.append(sha)
        if found is None or not found.parents_known:
            result.blind.append(sha)
            continue
        frontier.extend(found.first_parents)
    result.outside.sort(key=lambda s: (s != target, s))
    result.blind.sort()
    return result
