"""Governance statements: what runs where, git ancestry for the gates, break-glass exceptions and drills.

Exceptions (`PolicyException`, linked to their change by COVERS) and recorded drills (`Drill`) are
tracegraph's own records, written by people through the CLI and the API, not facts a source asserted:
like API tokens and the audit log they stay outside the traceability vocabulary (graph.vocabulary).
Times are the 'YYYY-MM-DDTHH:MM:SSZ' strings every other node uses.
"""

from __future__ import annotations

# Commit ancestry is walked this deep at most, as the trace and the metrics do.
ANCESTRY_DEPTH = 200

_DEPLOYMENT = (
    "{.id, .sha, .environment, .status, .strategy, .startedAt, .finishedAt, .drill,"
    " service: coalesce(COLLECT { MATCH (d)-[:TO]->(s:Service) RETURN s.name ORDER BY s.name }[0], d.service)}"
)

# Commits whose sha starts with $prefix (two at most: more than one means the prefix is ambiguous).
COMMITS_BY_PREFIX = """
MATCH (k:Commit) WHERE k.sha STARTS WITH $prefix
RETURN k.sha AS sha, k.repo AS repo ORDER BY k.sha LIMIT 2
"""

# For every service ($services, or the services the repositories $repos deploy as): the latest
# successful deployment to $environment (case-insensitive) that started before $before (null: any
# time) and is not $exclude.
RUNNING = f"""
WITH CASE WHEN size($services) > 0 THEN $services
          ELSE COLLECT {{ UNWIND $repos AS repo
                          MATCH (:Repository {{fullName: repo}})-[:DEPLOYS_AS]->(s:Service)
                          RETURN DISTINCT s.name AS name ORDER BY name }} END AS services
UNWIND services AS service
RETURN service,
       COLLECT {{ MATCH (:Service {{name: service}})<-[:TO]-(d:Deployment)
                 WHERE toLower(d.environment) = toLower($environment) AND d.status IN $ok
                   AND ($before IS NULL OR d.startedAt < $before) AND ($exclude IS NULL OR d.id <> $exclude)
                 RETURN d {_DEPLOYMENT} AS d ORDER BY d.startedAt DESC, d.id DESC LIMIT 1 }}[0] AS running
"""

# Every commit reachable from each of $shas through git parents (itself included), as a pruning
# breadth-first search (`DISTINCT`) so merges never multiply paths.
ANCESTRY = f"""
UNWIND $shas AS sha
OPTIONAL MATCH (k:Commit {{sha: sha}})
RETURN sha, k IS NOT NULL AS known,
       COLLECT {{ MATCH (k)-[:PARENT*0..{ANCESTRY_DEPTH}]->(a) RETURN DISTINCT a.sha }} AS reached
"""

# What the gates need of each commit: its parents (the ordered `parents` of git, and the PARENT
# edges), and the changes it belongs to: those containing or merged as it (`ships`: it is the change's
# final head or merge commit, the commit a deployment ships it by), and those whose head or merge
# commit was pushed together with it.
COMMIT_TIES = """
UNWIND $shas AS sha
MATCH (a:Commit {sha: sha})
RETURN a.sha AS sha, a.parents AS parents,
       COLLECT { MATCH (a)-[:PARENT]->(p:Commit) RETURN p.sha ORDER BY p.sha } AS parentEdges,
       COLLECT { MATCH (a)<-[:CONTAINS|MERGED_AS]-(c:Change)
                 RETURN DISTINCT {id: c.id, state: c.state, ships: a.sha IN [c.mergeCommitSha, c.headSha]} AS tie
                 UNION
                 MATCH (:Commit {sha: a.pushHead})<-[:CONTAINS|MERGED_AS]-(c:Change)
                 WHERE a.pushHead IN [c.mergeCommitSha, c.headSha]
                 RETURN DISTINCT {id: c.id, state: c.state, ships: false} AS tie } AS ties
"""

# Services the graph knows (an index scan on the key, not a label scan) and their tier.
SERVICES = """
MATCH (s:Service) WHERE s.name IS NOT NULL
RETURN s.name AS name, s.tier AS tier ORDER BY s.name
"""

# The latest $limit successful deployments of each of $services to $environment, newest first.
DEPLOYMENT_HISTORY = f"""
UNWIND $services AS service
RETURN service,
       COLLECT {{ MATCH (:Service {{name: service}})<-[:TO]-(d:Deployment)
                 WHERE toLower(d.environment) = toLower($environment) AND d.status IN $ok
                 RETURN d {_DEPLOYMENT} AS d ORDER BY d.startedAt DESC, d.id DESC LIMIT $limit }} AS deployments
"""

# Successful production deployments ($production: a regex over the environment) started in
# [$from, $to), of one service or all.
PRODUCTION_DEPLOYMENTS = f"""
MATCH (d:Deployment)
WHERE d.startedAt >= $from AND d.startedAt < $to AND d.environment =~ $production AND d.status IN $ok
  AND ($service IS NULL OR d.service = $service OR EXISTS {{ (d)-[:TO]->(:Service {{name: $service}}) }})
RETURN d {_DEPLOYMENT} AS deployment ORDER BY d.startedAt, d.id
"""

# For every row {id, service, environment, before}: the latest successful deployment of that service
# to that environment that started before `before`, other than the row's own.
PREDECESSORS = f"""
UNWIND $rows AS row
RETURN row.id AS id,
       COLLECT {{ MATCH (:Service {{name: row.service}})<-[:TO]-(d:Deployment)
                 WHERE toLower(d.environment) = toLower(row.environment) AND d.status IN $ok
                   AND d.startedAt < row.before AND d.id <> row.id
                 RETURN d {_DEPLOYMENT} AS d ORDER BY d.startedAt DESC, d.id DESC LIMIT 1 }}[0] AS previous
"""

# The people a change must be independent of: its authors (of the change and of its commits) and the
# operators of the agent sessions that produced it (the five-minute answer's walk).
CHANGE_PEOPLE = """
MATCH (c:Change {id: $id})
WITH c, COLLECT { MATCH (c)-[:CONTAINS|MERGED_AS]->(k:Commit) RETURN DISTINCT k } AS commits
RETURN c.id AS id,
       COLLECT { MATCH (p:Person)-[:AUTHORED]->(c) RETURN p.login AS login
                 UNION
                 UNWIND commits AS k MATCH (p:Person)-[:AUTHORED]->(k) RETURN p.login AS login } AS authors,
       COLLECT { MATCH (p:Person)-[:OPERATED]->(:AgentSession)-[:PROPOSED]->(c) RETURN p.login AS login
                 UNION
                 UNWIND commits AS k MATCH (p:Person)-[:OPERATED]->(:AgentSession)-[:AUTHORED]->(k)
                 RETURN p.login AS login } AS operators
"""

# --- exceptions ---------------------------------------------------------------------------------

CREATE_EXCEPTION = """
MATCH (c:Change {id: $changeId})
CREATE (x:PolicyException {id: $id, changeId: c.id, grantedBy: $grantedBy, grantedAt: $grantedAt, reason: $reason,
                           expiresAt: $expiresAt, emergency: $emergency, reviewDueAt: $reviewDueAt})-[:COVERS]->(c)
RETURN x {.*} AS exception
"""

EXCEPTION = """
MATCH (x:PolicyException {id: $id})
RETURN x {.*} AS exception
"""

# Revoking or reviewing twice keeps the first: who did it, and when, is what the record is for.
REVOKE_EXCEPTION = """
MATCH (x:PolicyException {id: $id}) WHERE x.revokedAt IS NULL
SET x.revokedAt = $at, x.revokedBy = $by, x.revokeReason = $reason
RETURN x {.*} AS exception
"""

REVIEW_EXCEPTION = """
MATCH (x:PolicyException {id: $id}) WHERE x.reviewedAt IS NULL
SET x.reviewedAt = $at, x.reviewedBy = $by, x.reviewNotes = $notes
RETURN x {.*} AS exception
"""

# Exceptions in force at some time in [$from, $to): granted before $to, expiring at or after $from; of
# the changes of one service's repositories when $service is set.
EXCEPTIONS_BETWEEN = """
MATCH (x:PolicyException) WHERE x.grantedAt < $to AND x.expiresAt >= $from
  AND ($service IS NULL
       OR EXISTS { (x)-[:COVERS]->(:Change)-[:IN]->(:Repository)-[:DEPLOYS_AS]->(:Service {name: $service}) })
RETURN x {.*} AS exception ORDER BY x.grantedAt, x.id
"""

# --- drills -------------------------------------------------------------------------------------

RECORD_DRILL = """
CREATE (x:Drill {id: $id, service: $service, environment: $environment, at: $at, restoreSeconds: $restoreSeconds,
                 recordedBy: $recordedBy, recordedAt: $recordedAt, notes: $notes, deploymentId: $deploymentId})
RETURN x {.*} AS drill
"""

# Rollback drills of each of $services: recorded ones, and deployments marked as drills.
DRILLS = """
UNWIND $services AS service
RETURN service,
       COLLECT { MATCH (x:Drill {service: service}) RETURN x {.*} AS drill ORDER BY x.at DESC } AS recorded,
       COLLECT { MATCH (:Service {name: service})<-[:TO]-(d:Deployment) WHERE d.drill = true
                 RETURN d {.id, .environment, .status, .startedAt, .finishedAt} AS d
                 ORDER BY d.startedAt DESC } AS deployed
"""
