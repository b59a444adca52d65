"""Every constraint and index tracegraph wants, in one place: the natural keys and indexed properties
of the closed vocabulary, and the few that the access log and the metrics reads add.

All of it is idempotent DDL (`IF NOT EXISTS`), so running it on every start costs a round trip each.
"""

from __future__ import annotations

from graph.queries.core import property_index, unique_constraint
from graph.queries.web import TITLE_INDEX
from graph.vocabulary import INDEXED, KEYS

# API tokens (looked up by the hash of the presented secret) and the audit log (listed by time).
ACCESS = (
    "CREATE CONSTRAINT apitoken_id IF NOT EXISTS FOR (t:ApiToken) REQUIRE t.id IS UNIQUE",
    "CREATE CONSTRAINT apitoken_hash IF NOT EXISTS FOR (t:ApiToken) REQUIRE t.hash IS UNIQUE",
    "CREATE CONSTRAINT auditentry_id IF NOT EXISTS FOR (a:AuditEntry) REQUIRE a.id IS UNIQUE",
    "CREATE INDEX auditentry_at IF NOT EXISTS FOR (a:AuditEntry) ON (a.at)",
)

# Where each collector stopped, by resource (graph.queries.collect).
COLLECT = ("CREATE CONSTRAINT collectcursor_id IF NOT EXISTS FOR (c:CollectCursor) REQUIRE c.id IS UNIQUE",)

# What the metrics reads want beyond graph.vocabulary.INDEXED (which also needs AgentSession.startedAt):
# with (service, startedAt) one service's deployments, and its neighbours before and after the
# window, are a single seek instead of a walk over every service's deployments in the range.
METRICS = ("CREATE INDEX deployment_service_startedat IF NOT EXISTS FOR (n:Deployment) ON (n.service, n.startedAt)",)


# Break-glass exceptions (by id, and by when they were granted for audit periods) and recorded drills
# (by service); graph/queries/governance.py reads them.
GOVERNANCE = (
    "CREATE CONSTRAINT policyexception_id IF NOT EXISTS FOR (x:PolicyException) REQUIRE x.id IS UNIQUE",
    "CREATE INDEX policyexception_grantedat IF NOT EXISTS FOR (x:PolicyException) ON (x.grantedAt)",
    "CREATE CONSTRAINT drill_id IF NOT EXISTS FOR (x:Drill) REQUIRE x.id IS UNIQUE",
    "CREATE INDEX drill_service IF NOT EXISTS FOR (x:Drill) ON (x.service)",
)


# The web app: words of change and incident titles (search), and signed-in browser sessions.
WEB = (
    # English analysis: "refunds" finds "Refund API 5xx" (stems), and stop words do not match everything.
    f"CREATE FULLTEXT INDEX {TITLE_INDEX} IF NOT EXISTS FOR (n:Change|Incident) ON EACH [n.title] "
    "OPTIONS {indexConfig: {`fulltext.analyzer`: 'english'}}",
    "CREATE CONSTRAINT websession_hash IF NOT EXISTS FOR (s:WebSession) REQUIRE s.hash IS UNIQUE",
    "CREATE INDEX websession_expiresat IF NOT EXISTS FOR (s:WebSession) ON (s.expiresAt)",
)


def statements() -> list[str]:
    """The DDL, built only from the closed vocabulary and the constants above."""
    ddl = [unique_constraint(label, key) for label, key in KEYS.items()]
    ddl += [property_index(label, prop) for label, props in INDEXED.items() for prop in props]
    return ddl + list(ACCESS) + list(COLLECT) + list(METRICS) + list(GOVERNANCE) + list(WEB)
