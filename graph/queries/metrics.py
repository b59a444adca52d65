"""Reads behind the delivery metrics: each starts from an indexed time range (Deployment.startedAt,
Change.mergedAt, Incident.triggeredAt, AgentSession.startedAt), never from a label scan.

Timestamps are stored as 'YYYY-MM-DDTHH:MM:SSZ' strings, so a window is a string range. The
composite index they want is in graph/queries/schema.py, with every other one.
"""

from __future__ import annotations

from graph.queries.core import CHANGE_ANSWER

# Commit ancestry is walked this deep at most: enough for a busy service's deployment cadence,
# and bounded so one deployment of a huge history stays cheap.
ANCESTRY_DEPTH = 200

_DEPLOYMENT = """
RETURN d.id AS id, d.sha AS sha, d.environment AS environment, d.status AS status,
       d.startedAt AS startedAt, d.finishedAt AS finishedAt, d.service AS service,
       COLLECT { MATCH (i:Incident)-[:CAUSED_BY]->(d) RETURN DISTINCT i.id } AS incidentIds
"""

# Production deployments started in the window ($production is a regex over the environment).
DEPLOYMENTS_OF_SERVICE = (
    """
MATCH (d:Deployment)
WHERE d.service = $service AND d.startedAt >= $from AND d.startedAt < $to AND d.environment =~ $production
"""
    + _DEPLOYMENT
)

DEPLOYMENTS = (
    """
MATCH (d:Deployment)
WHERE d.startedAt >= $from AND d.startedAt < $to AND d.environment =~ $production
"""
    + _DEPLOYMENT
)

# For each (service, environment) seen in the window: the last successful deployment before it
# (what the first one in the window replaced) and the first one after it (a rollback of the last one).
NEIGHBOURS = (
    """
UNWIND $groups AS g
CALL (g) {
  MATCH (d:Deployment)
  WHERE d.service = g.service AND d.startedAt < $from AND toLower(d.environment) = g.environment AND d.status IN $ok
  RETURN d ORDER BY d.startedAt DESC, d.id DESC LIMIT 1
  UNION
  MATCH (d:Deployment)
  WHERE d.service = g.service AND d.startedAt >= $to AND toLower(d.environment) = g.environment AND d.status IN $ok
  RETURN d ORDER BY d.startedAt, d.id LIMIT 1
}
WITH d
"""
    + _DEPLOYMENT
)

# Per deployment: every change whose merge commit or head is its commit or one of its ancestors
# (squash, rebase and merge commits alike), and whether the next deployment's commit is one of
# those ancestors (an older commit: a rollback). `DISTINCT` keeps the var-length expand a pruning
# BFS, so merge-heavy histories do not explode into paths.
SHIPPED = f"""
UNWIND $rows AS row
OPTIONAL MATCH (k:Commit {{sha: row.sha}})
WITH row, COLLECT {{ MATCH (k)-[:PARENT*0..{ANCESTRY_DEPTH}]->(a:Commit) RETURN DISTINCT a }} AS ancestors
RETURN row.key AS key,
       row.next IS NOT NULL AND row.next <> row.sha AND row.next IN [a IN ancestors | a.sha] AS nextIsOlder,
       COLLECT {{ UNWIND ancestors AS a
                 MATCH (a)<-[:MERGED_AS|CONTAINS]-(c:Change) WHERE a.sha IN [c.mergeCommitSha, c.headSha]
                 RETURN DISTINCT c.id }} AS changeIds
"""


def _batched_change_answer() -> str:
    """CHANGE_ANSWER (the five-minute answer, so the verdict semantics are the same) for many ids.

    Each id runs the answer in its own subquery, so it is planned for one change (index seeks on
    pushHead and sha) rather than as a join over every pushed commit. It is extended with the
    incidents caused by the change or one of its commits (the answer's own `incidents` also
    follows deployments, of any environment).
    """
    if CHANGE_ANSWER.count("{id: $id}") != 1:
        raise RuntimeError("graph.queries.core.CHANGE_ANSWER changed shape: update graph/queries/metrics.py")
    ids = """
CALL () {
  MATCH (c:Change)
  WHERE c.mergedAt >= $from AND c.mergedAt < $to
    AND ($service IS NULL OR EXISTS { (c)-[:IN]->(:Repository)-[:DEPLOYS_AS]->(:Service {name: $service}) })
  RETURN c.id AS changeId
  UNION
  UNWIND $shipped AS changeId
  RETURN changeId
}
CALL (changeId) {"""
    caused_by = """,
  COLLECT { MATCH (i:Incident)-[:CAUSED_BY]->(c) RETURN i.id AS id
            UNION
            UNWIND shas AS sha MATCH (i:Incident)-[:CAUSED_BY]->(:Commit {sha: sha}) RETURN i.id AS id } AS causedBy
}
RETURN *
"""
    return ids + CHANGE_ANSWER.replace("{id: $id}", "{id: changeId}").rstrip() + caused_by


# Changes merged in the window (of the service's repositories) plus the ones deployments shipped.
CHANGES = _batched_change_answer()

INCIDENTS = """
MATCH (i:Incident)
WHERE i.triggeredAt >= $from AND i.triggeredAt < $to
  AND ($service IS NULL OR i.service = $service OR EXISTS { (i)-[:AFFECTS]->(:Service {name: $service}) })
RETURN i.id AS id, i.triggeredAt AS triggeredAt, i.resolvedAt AS resolvedAt
"""

# Sessions started in the window; for a service, those that produced a change or a commit of one
# of its repositories.
SESSIONS = """
MATCH (s:AgentSession)
WHERE s.startedAt >= $from AND s.startedAt < $to
  AND ($service IS NULL
       OR EXISTS { (s)-[:PROPOSED]->(:Change)-[:IN]->(:Repository)-[:DEPLOYS_AS]->(:Service {name: $service}) }
       OR EXISTS { MATCH (s)-[:AUTHORED]->(k:Commit), (r:Repository)-[:DEPLOYS_AS]->(:Service {name: $service})
                   WHERE r.fullName = k.repo })
RETURN s.id AS id, s.startedAt AS startedAt, s.costUsd AS costUsd,
       COLLECT { MATCH (p:Person)-[:OPERATED]->(s) RETURN p.login ORDER BY p.login }[0] AS operator
"""
