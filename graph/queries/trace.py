"""Reads behind the incident trace: deployments before an incident and what each one shipped."""

TRACE_INCIDENT = """
MATCH (i:Incident {id: $id})
RETURN i {.*, service: coalesce(COLLECT { MATCH (i)-[:AFFECTS]->(s:Service) RETURN s.name }[0], i.service)} AS incident,
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
"""

# Deployments to a service that started in [from, to], newest first.
DEPLOYMENTS_BEFORE = """
MATCH (:Service {name: $service})<-[:TO]-(d:Deployment)
WHERE d.startedAt >= $from AND d.startedAt <= $to
RETURN d {.*} AS deployment ORDER BY d.startedAt DESC, d.id
"""

DEPLOYMENT_BY_ID = """
MATCH (d:Deployment {id: $id})
RETURN d {.*, service: coalesce(COLLECT { MATCH (d)-[:TO]->(s:Service) RETURN s.name }[0], d.service)} AS deployment
"""

# The last successful deployment of the same service and environment before this one.
PREVIOUS_DEPLOYMENT = """
MATCH (:Service {name: $service})<-[:TO]-(p:Deployment)
WHERE p.environment = $environment AND p.startedAt < $before AND p.status = 'success' AND p.id <> $id
RETURN p {.*} AS deployment ORDER BY p.startedAt DESC LIMIT 1
"""

# Commits a deployment shipped: ancestors of its sha (through git parents) that are not ancestors of the
# previous deployment's sha, bounded in depth; then the changes that contain or were merged as them.
SHIPPED_CHANGES = """
MATCH (head:Commit {sha: $sha})
CALL (head) {
  MATCH (head)-[:PARENT*0..200]->(c:Commit)
  RETURN collect(DISTINCT c) AS reachable
}
CALL () {
  OPTIONAL MATCH (prev:Commit {sha: $previous})
  OPTIONAL MATCH (prev)-[:PARENT*0..200]->(a:Commit)
  RETURN collect(DISTINCT a) AS before
}
WITH [c IN reachable WHERE NOT c IN before] AS shipped
RETURN [c IN shipped | c.sha] AS shas,
       COLLECT { UNWIND shipped AS c MATCH (c)<-[:CONTAINS|MERGED_AS]-(ch:Change) RETURN DISTINCT ch.id } AS changeIds
"""

CHANGE_SIZES = """
UNWIND $ids AS id
MATCH (c:Change {id: id})
RETURN c.id AS id, coalesce(c.additions, 0) + coalesce(c.deletions, 0) AS size
"""
