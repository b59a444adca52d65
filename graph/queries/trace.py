"""Reads behind the incident trace: a fixed handful of round trips whatever the number of deployments.

1. TRACE_INCIDENT: the incident, its explicit links and postmortems;
2. TRACE_DEPLOYMENTS: the deployments to its service in the window, and those it names;
3. TRACE_SHIPPED: every deployment's predecessor and the changes it shipped, plus the candidates' sizes;
4. CHANGE_ANSWERS: the five-minute answer of every candidate.
"""

from __future__ import annotations

from graph.queries.core import CHANGE_ANSWER, with_fields

# Commit ancestry is walked this deep at most (the trace's documented bound).
ANCESTRY_DEPTH = 200

TRACE_INCIDENT = with_fields("""
MATCH (i:Incident {id: $id})
RETURN i {.*Incident,
          service: coalesce(COLLECT { MATCH (i)-[:AFFECTS]->(s:Service) RETURN s.name
                                      ORDER BY s.name }[0], i.service)} AS incident,
  COLLECT { MATCH (i)-[r:CAUSED_BY]->(c:Change)
            RETURN {changeId: c.id, deploymentId: null, inferred: coalesce(r.inferred, false), source: r.source} AS link
            UNION
            MATCH (i)-[r:CAUSED_BY]->(:Commit)<-[:CONTAINS|MERGED_AS]-(c:Change)
            RETURN {changeId: c.id, deploymentId: null, inferred: coalesce(r.inferred, false), source: r.source} AS link
            UNION
            MATCH (i)-[r:CAUSED_BY]->(d:Deployment)
            RETURN {changeId: null, deploymentId: d.id, inferred: coalesce(r.inferred, false), source: r.source} AS link
  } AS links,
  COLLECT { MATCH (p:Postmortem)-[:ANALYZES]->(i) RETURN p.id } AS postmortems
""")

# The deployments to $service that started in [from, to], newest first ($service null: none), and the
# deployments named by id ($named, in that order) with their own service.
TRACE_DEPLOYMENTS = with_fields("""
RETURN COLLECT { MATCH (:Service {name: $service})<-[:TO]-(d:Deployment)
                 WHERE d.startedAt >= $from AND d.startedAt <= $to
                 RETURN d {.*Deployment} ORDER BY d.startedAt DESC, d.id } AS window,
       COLLECT { UNWIND $named AS id
                 MATCH (d:Deployment {id: id})
                 RETURN d {.*Deployment,
                           service: coalesce(COLLECT { MATCH (d)-[:TO]->(s:Service) RETURN s.name
                                                       ORDER BY s.name }[0], d.service)}
       } AS named
""")

# For every row {key, id, service, environment, before, sha} (a deployment):
# - its predecessor: the last successful deployment of the same service and environment that started before
#   `before` (ties: the highest id), other than itself. Rows are grouped by (service, environment) so each
#   service's deployments are read once: a predecessor is either one started from the group's earliest
#   `before` on, or one of the two latest before it (two, so excluding the row itself still leaves one);
# - the changes it shipped: those containing or merged as a commit among the ancestors of its sha (through
#   git parents, at most ANCESTRY_DEPTH generations) that are not among the ancestors of its predecessor's
#   sha (same bound). Each distinct sha is walked once, as a pruning breadth-first search (`DISTINCT`), so
#   merges never multiply paths (PARENT only joins commits, so `a` needs no label check). Neo4j hashes the
#   list `before` once per row for `IN` (measured: faster than grouping the two lists), so the difference
#   costs |reachable| + |before|, not their product.
# Then the size (additions + deletions) of every shipped change and of the changes in $named.
TRACE_SHIPPED = f"""
UNWIND $rows AS row
WITH row.service AS service, row.environment AS environment, collect(row) AS rows,
     min(row.before) AS earliest, max(row.before) AS latest
CALL (service, environment, earliest, latest) {{
  MATCH (:Service {{name: service}})<-[:TO]-(p:Deployment)
  WHERE p.environment = environment AND p.status = 'success' AND p.startedAt < latest
  WITH p ORDER BY p.startedAt DESC, p.id DESC
  WITH collect(p {{.id, .sha, .startedAt}}) AS ok
  RETURN [p IN ok WHERE p.startedAt >= earliest] + [p IN ok WHERE p.startedAt < earliest][0..2] AS candidates
}}
UNWIND rows AS row
WITH row, [p IN candidates WHERE p.startedAt < row.before AND p.id <> row.id][0] AS previous
WITH collect({{key: row.key, sha: row.sha, previous: previous}}) AS pairs
CALL (pairs) {{
  UNWIND pairs AS pair
  UNWIND [pair.sha, pair.previous.sha] AS sha
  WITH DISTINCT sha WHERE sha IS NOT NULL
  OPTIONAL MATCH (k:Commit {{sha: sha}})
  WITH sha, COLLECT {{ MATCH (k)-[:PARENT*0..{ANCESTRY_DEPTH}]->(a) RETURN DISTINCT a }} AS ancestors
  RETURN collect({{sha: sha, ancestors: ancestors}}) AS walks
}}
UNWIND pairs AS pair
CALL (pair, walks) {{
  WITH [w IN walks WHERE w.sha = pair.sha | w.ancestors][0] AS reachable,
       coalesce([w IN walks WHERE w.sha = pair.previous.sha | w.ancestors][0], []) AS before
  UNWIND [c IN reachable WHERE NOT c IN before] AS c
  MATCH (c)<-[:CONTAINS|MERGED_AS]-(ch:Change)
  WITH DISTINCT ch
  RETURN collect({{id: ch.id, size: coalesce(ch.additions, 0) + coalesce(ch.deletions, 0)}}) AS changes
}}
WITH collect({{key: pair.key, previous: pair.previous.id, changes: changes}}) AS shipped
RETURN shipped,
       COLLECT {{ UNWIND $named AS id
                 MATCH (ch:Change {{id: id}})
                 RETURN {{id: ch.id, size: coalesce(ch.additions, 0) + coalesce(ch.deletions, 0)}} }} AS named
"""


def _answers() -> str:
    """CHANGE_ANSWER for every id of $ids in one read, each row with its `changeId`.

    Each id runs the answer in its own subquery, so it is planned for one change (the same seeks as the
    single answer) and the verdict is built from exactly the same columns.
    """
    if CHANGE_ANSWER.count("{id: $id}") != 1:
        raise RuntimeError("graph.queries.core.CHANGE_ANSWER changed shape: update graph/queries/trace.py")
    return (
        "UNWIND $ids AS changeId\nCALL (changeId) {"
        + CHANGE_ANSWER.replace("{id: $id}", "{id: changeId}")
        + "}\nRETURN *"
    )


# The five-minute answer of many changes (graph.repository.changes_by_ids).
CHANGE_ANSWERS = _answers()
