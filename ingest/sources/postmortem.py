"""Markdown postmortems -> `Postmortem`, the incidents it analyzes and the changes it blames.

`tracegraph ingest --source postmortem docs/postmortems/` hands each `.md`/`.markdown` file over as
text (any file name; an envelope may also carry the text, or `{"markdown": ..., "url": ...}`).

Ids. The postmortem is `postmortem:{front matter id}`, else `postmortem:{first 16 hex of the
document's sha256}`; `digest` is `sha256:{hex}` of the whole document as stored (the pipeline hands
sources documents with secrets already redacted).

Incidents are named the way their sources name them, so the edges meet the same nodes:
- `pagerduty:PABC123`, a PagerDuty incident URL, `PD-PABC123`, or a bare id under a front matter
  `pagerduty:` key -> `pagerduty:PABC123`;
- `opsgenie:<alertId>`, an Opsgenie alert URL, or a bare id under `opsgenie:` -> `opsgenie:<alertId>`;
- anything else named as an incident (`INC-123` in the text, `PD-1234` incident numbers, a bare
  value under `incident`/`incidents`/`incident_ids`) keeps its own spelling as the id (`INC-123`):
  a bare id is never guessed to be PagerDuty's or Opsgenie's.

Blame. Links to changes (`o/r#42`, pull request and merge request URLs, `group/project!17`),
commits (40-hex SHAs anywhere; 7-12 hex only after commit/sha/revert... or alone in backticks)
and deployments (`github:deployment:123`, `gitlab:deployment:9`) are explicit blame, becoming
`Incident -[:CAUSED_BY {inferred: false, confidence: 1.0}]->` edges for every incident named,
except links in fix sections (action items, resolution, remediation, lessons learned...) or right
after a fix cue ("fixed by", "rolled forward in"...), which name the cure, not the cause. A short
SHA becomes a Commit only when a full SHA of the document starts with it (commits are keyed by full
SHA). Front matter `caused_by`/`causes`/`changes`/`commits`/`deployments` always blame. With no
incident named, the postmortem `ANALYZES` the blamed changes instead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.redact import redact
from ingest.sources.base import Event, Rejected, Source, change_id
from ingest.sources.postmortem_parse import PostmortemDoc, first, parse, scalars

MAX_CHARS = 2_000_000

# --- references -------------------------------------------------------------------------------

_PD = r"[A-Za-z0-9]{5,20}"
_OG = r"[A-Za-z0-9][\w-]{3,80}"
INCIDENT_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(rf"(?<![\w.-])pagerduty:({_PD})\b", re.I), lambda m: f"pagerduty:{m[1]}"),
    (re.compile(rf"https?://[\w.-]+\.pagerduty\.com/incidents/({_PD})\b", re.I), lambda m: f"pagerduty:{m[1]}"),
    (re.compile(rf"(?<![\w.-])opsgenie:({_OG})", re.I), lambda m: f"opsgenie:{m[1]}"),
    (re.compile(rf"https?://[\w.-]*opsgenie\.com/alert/detail/({_OG})", re.I), lambda m: f"opsgenie:{m[1]}"),
    # PD-<id> is a PagerDuty id when it has a letter; PD-1234 is an incident number, not an id.
    (
        re.compile(r"(?<![\w-])PD-([A-Z0-9]{4,20})\b"),
        lambda m: f"pagerduty:{m[1]}" if not m[1].isdigit() else f"PD-{m[1]}",
    ),
    (re.compile(r"(?<![\w-])INC-(\d{1,10})\b"), lambda m: f"INC-{m[1]}"),
)

_REPO = r"[A-Za-z0-9][\w.-]*"
CHANGE_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"https?://[\w.-]+/([\w.-]+/[\w.-]+)/pull/(\d+)"), lambda m: change_id("github", m[1], int(m[2]))),
    (
        re.compile(r"https?://[\w.-]+/((?:[\w.-]+/)*[\w.-]+)/-/merge_requests/(\d+)"),
        lambda m: change_id("gitlab", m[1], int(m[2])),
    ),
    (re.compile(rf"(?<![\w./-])({_REPO}/[\w.-]+)#(\d+)\b"), lambda m: change_id("github", m[1], int(m[2]))),
    (re.compile(rf"(?<![\w./-])({_REPO}(?:/[\w.-]+)+)!(\d+)\b"), lambda m: change_id("gitlab", m[1], int(m[2]))),
)
FULL_SHA = re.compile(r"(?<![0-9A-Za-z])([0-9a-fA-F]{40})(?![0-9A-Za-z])")
COMMIT_URL = re.compile(r"https?://[\w.-]+/(?:[\w.-]+/)+commits?/([0-9a-fA-F]{7,40})(?![0-9A-Za-z])")
SHORT_SHAS = (
    re.compile(
        r"(?i:(?<![\w-])(?:commits?|sha1?|revert(?:s|ed|ing)?|cherry-pick(?:ed)?|hash)\b)"
        r"[ \t:#=`'\"(]{1,4}([0-9a-f]{7,12})(?![0-9A-Za-z])"
    ),
    re.compile(r"`([0-9a-f]{7,12})`"),
)
DEPLOYMENT = re.compile(r"(?<![\w:.-])(github|gitlab):deployment:(\d+)\b", re.I)
# Words that introduce the cure rather than the cause, looked for just before a link.
FIX_CUES = (
    "fixed by",
    "fixed in",
    "fix in",
    "fix:",
    "fixes",
    "fix pr",
    "hotfix",
    "resolved by",
    "mitigated by",
    "reverted by",
    "reverted in",
    "revert pr",
    "roll forward",
    "rolled forward",
    "follow-up",
    "follow up",
    "followup",
    "patched by",
)
CUE_WINDOW = 48


def _short_sha(value: str) -> bool:
    # Hex-looking words ("defaced", "1234567") are not commits: a real short SHA mixes both.
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


@dataclass
class References:
    """What a postmortem names: incident ids, and per blame target whether it is blamed."""

    incidents: dict[str, None] = field(default_factory=dict)  # an ordered set
    changes: dict[str, bool] = field(default_factory=dict)
    commits: dict[str, bool] = field(default_factory=dict)
    short_shas: dict[str, bool] = field(default_factory=dict)
    deployments: dict[str, bool] = field(default_factory=dict)

    @staticmethod
    def _add(found: dict[str, bool], key: str, blame: bool) -> None:
        found[key] = found.get(key, False) or blame

    def scan(self, line: str, *, fix_section: bool = False) -> None:
        """Collect the references in one line of text."""
        for pattern, build in INCIDENT_PATTERNS:
            for match in pattern.finditer(line):
                self.incidents[build(match)] = None

        def blame(match: re.Match[str]) -> bool:
            before = line[max(0, match.start() - CUE_WINDOW) : match.start()].lower()
            return not fix_section and not any(cue in before for cue in FIX_CUES)

        for pattern, build in CHANGE_PATTERNS:
            for match in pattern.finditer(line):
                self._add(self.changes, build(match), blame(match))
        for pattern in (FULL_SHA, COMMIT_URL, *SHORT_SHAS):
            for match in pattern.finditer(line):
                sha = match[1].lower()
                if len(sha) == 40:
                    self._add(self.commits, sha, blame(match))
                elif _short_sha(sha) or pattern is COMMIT_URL:
                    self._add(self.short_shas, sha, blame(match))
        for match in DEPLOYMENT.finditer(line):
            self._add(self.deployments, f"{match[1].lower()}:deployment:{match[2]}", blame(match))

    def resolve_short_shas(self) -> None:
        """Replace short SHAs by the one full SHA of the document they abbreviate, when there is one."""
        for short, blamed in list(self.short_shas.items()):
            full = [sha for sha in self.commits if sha.startswith(short)]
            if len(full) == 1:
                self._add(self.commits, full[0], blamed)
                del self.short_shas[short]

    def blamed(self, found: dict[str, bool]) -> list[str]:
        """The keys of one kind that are blamed, in the order first named."""
        return [key for key, blame in found.items() if blame]


INCIDENT_KEYS = ("incident", "incidents", "incident_id", "incident_ids")
PROVIDER_KEYS = {
    "pagerduty": ("pagerduty", "pagerduty_incident", "pagerduty_incidents", "pagerduty_id", "pagerduty_ids"),
    "opsgenie": ("opsgenie", "opsgenie_alert", "opsgenie_alerts", "opsgenie_id", "opsgenie_ids"),
}
BLAME_KEYS = ("caused_by", "causes", "culprit", "culprits", "changes", "commits", "deployments")
_BARE_SHA = re.compile(r"[0-9a-fA-F]{7,40}")


def _incident_values(value: Any) -> list[str]:
    # {source: pagerduty, id: PABC123} entries name their provider explicitly.
    found = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict) and (ident := first(item, "id")):
            source = (first(item, "source", "provider") or "").lower()
            found.append(f"{source}:{ident}" if source in PROVIDER_KEYS else ident)
        else:
            found.extend(scalars(item))
    return found


def references(doc: PostmortemDoc) -> References:
    """Every incident, change, commit and deployment the front matter and the body name."""
    refs = References()
    front = doc.front
    for key in INCIDENT_KEYS:
        for value in _incident_values(front.get(key)):
            before = len(refs.incidents)
            refs.scan(value)
            if len(refs.incidents) == before and len(value) <= 120:
                refs.incidents[value] = None
    for provider, keys in PROVIDER_KEYS.items():
        for value in (v for key in keys for v in scalars(front.get(key))):
            before = len(refs.incidents)
            refs.scan(value)
            if len(refs.incidents) == before and re.fullmatch(_OG, value):
                refs.incidents[f"{provider}:{value}"] = None
    for value in (v for key in BLAME_KEYS for v in scalars(front.get(key))):
        refs.scan(value)
        if _BARE_SHA.fullmatch(value):
            References._add(refs.commits if len(value) == 40 else refs.short_shas, value.lower(), True)
    for value in (
        v for key in ("summary", "description", "root_cause", "rootcause", "cause") for v in scalars(front.get(key))
    ):
        for text in value.splitlines():
            refs.scan(text)
    _scan_body(refs, doc)
    refs.resolve_short_shas()
    return refs


# Markdown reference links: `[more inclusive naming][kiam-pr]` ... `[kiam-pr]: https://...`.
_LINK_DEFINITION = re.compile(r" {0,3}\[([^\]]{1,100})\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?")
_LINK_USE = re.compile(r"\[([^\]]{1,100})\](?:\[([^\]]{0,100})\])?")


def _label(text: str) -> str:
    return " ".join(text.lower().split())


def _scan_body(refs: References, doc: PostmortemDoc) -> None:
    # A reference link's URL is read where the link is used (its section, its cue words), not
    # where it is defined: definitions usually sit together at the end of the document.
    definitions = {
        _label(found[1]): found[2]
        for line in doc.lines
        if not line.heading and (found := _LINK_DEFINITION.fullmatch(line.text))
    }
    for line in doc.lines:
        if not line.heading and _LINK_DEFINITION.fullmatch(line.text):
            refs.scan(line.text, fix_section=True)  # named, but not blamed from here
            continue
        refs.scan(line.text, fix_section=line.fix)
        for use in _LINK_USE.finditer(line.text) if definitions else ():
            if url := definitions.get(_label(use[2] or use[1])):
                # Only the words just before the use matter (fix cues), not the whole line again.
                before = line.text[max(0, use.start() - CUE_WINDOW) : use.start()]
                refs.scan(f"{before} {url}", fix_section=line.fix)


# --- the normaliser ---------------------------------------------------------------------------


def _document(payload: Any) -> tuple[str, str | None]:
    if isinstance(payload, str):
        return payload, None
    text = next((payload[k] for k in ("markdown", "text", "body", "content") if isinstance(payload.get(k), str)), None)
    if text is None:
        raise Rejected("postmortem payload must be Markdown text, or an object with a 'markdown' string")
    url = payload.get("url")
    return text, url if isinstance(url, str) and url else None


def normalise(event: Event) -> Batch:
    """One Markdown postmortem -> the Postmortem, ANALYZES edges and explicit CAUSED_BY links."""
    text, url = _document(event.payload)
    if not text.strip():
        raise Rejected("postmortem document is empty")
    if "\x00" in text:
        raise Rejected("postmortem is not a text document (it contains NUL bytes)")
    if len(text) > MAX_CHARS:
        raise Rejected(f"postmortem is {len(text)} characters long; the limit is {MAX_CHARS}")
    doc = parse(text)
    refs = references(doc)
    if not doc.front and not doc.has_heading and not refs.incidents:
        raise Rejected("does not look like a postmortem: no front matter, no Markdown heading and no incident id")
    digest = hashlib.sha256(text.encode()).hexdigest()
    front = doc.front
    key = f"postmortem:{first(front, 'id', 'postmortem_id') or digest[:16]}"
    version = event.version(first(front, "updated", "last_updated", "updated_at", "modified") or doc.date)
    node = (Label.POSTMORTEM, key)
    origin = event.origin
    batch = Batch()
    batch.node(
        *node,
        version=version,
        origin=origin,
        title=redact(doc.title),
        summary=redact(doc.summary),
        rootCause=redact(doc.root_cause),
        actionItems=[redact(item) for item in doc.action_items] or None,
        digest=f"sha256:{digest}",
        url=url or first(front, "url", "link", "permalink"),
        incidentIds=list(refs.incidents) or None,
        date=doc.date,
    )
    for incident in refs.incidents:
        batch.edge(node, Rel.ANALYZES, (Label.INCIDENT, incident), version=version, origin=origin)
    targets = [
        *((Label.CHANGE, k) for k in refs.blamed(refs.changes)),
        *((Label.COMMIT, k) for k in refs.blamed(refs.commits)),
        *((Label.DEPLOYMENT, k) for k in refs.blamed(refs.deployments)),
    ]
    for incident in refs.incidents:
        for target in targets:
            batch.edge(
                (Label.INCIDENT, incident),
                Rel.CAUSED_BY,
                target,
                version=version,
                origin=origin,
                inferred=False,
                confidence=1.0,
            )
    if not refs.incidents:
        # The model has Postmortem-[:ANALYZES]->Change but no such edge to commits or deployments.
        for target in targets:
            if target[0] == Label.CHANGE:
                batch.edge(node, Rel.ANALYZES, target, version=version, origin=origin)
    return batch


def infer_type(payload: Any) -> str | None:
    """Text (or an object carrying Markdown) is a postmortem."""
    if isinstance(payload, str) or (isinstance(payload, dict) and isinstance(payload.get("markdown"), str)):
        return "postmortem"
    return None


SOURCE = Source(
    name="postmortem",
    handlers={"postmortem": normalise},
    infer_type=infer_type,
    text_suffixes=frozenset({".md", ".markdown"}),
)
