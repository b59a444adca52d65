"""Reads (and the browser-session writes) behind the web app: search, the changes list, where each fact
came from, services, and signed-in browser sessions.

Every read starts from an index: a key, the full-text index on titles, or an indexed time range.
Lists of small labels (services, repositories) scan their key's index (`IS NOT NULL`), not the label.
"""

from __future__ import annotations

from graph.queries.core import with_fields

# The full-text index over change and incident titles (created by graph.schema.ensure_schema).
TITLE_INDEX = "title_search"

# --- search -------------------------------------------------------------------------------------

_CHANGE_HIT = "c {.id, .repo, .number, .title, .state, .mergedAt}"

# Everything a search text may name exactly: change ids, a commit sha prefix, incident, session and
# deployment ids. $sha is a lower-case hex prefix or null.
SEARCH_EXACT = f"""
RETURN COLLECT {{ UNWIND $changeIds AS cid MATCH (c:Change {{id: cid}}) RETURN {_CHANGE_HIT} }} AS changes,
       COLLECT {{ MATCH (k:Commit) WHERE $sha IS NOT NULL AND k.sha STARTS WITH $sha
                 RETURN k {{.sha, .message, .repo, .authoredAt,
                           changeIds: COLLECT {{ MATCH (c:Change)-[:CONTAINS|MERGED_AS]->(k) RETURN DISTINCT c.id }}}}
                 ORDER BY k.sha LIMIT $limit }} AS commits,
       COLLECT {{ UNWIND $ids AS id MATCH (i:Incident {{id: id}})
                 RETURN i {{.id, .title, .severity, .status, .triggeredAt}} }} AS incidents,
       COLLECT {{ UNWIND $ids AS id MATCH (s:AgentSession {{id: id}})
                 RETURN s {{.id, .tool, .model, .promptSummary, .startedAt}} }} AS sessions,
       COLLECT {{ UNWIND $ids AS id MATCH (d:Deployment {{id: id}})
                 RETURN d {{.id, .environment, .service, .status, .startedAt}} }} AS deployments
"""

# Words of a title, through the full-text index ($words is a Lucene query built from escaped terms).
SEARCH_TITLES = f"""
CALL db.index.fulltext.queryNodes('{TITLE_INDEX}', $words, {{limit: $limit}}) YIELD node, score
RETURN CASE WHEN node:Change THEN 'change' ELSE 'incident' END AS kind, score,
       node {{.id, .repo, .number, .title, .state, .mergedAt, .severity, .status, .triggeredAt}} AS hit
ORDER BY score DESC, hit.id
"""

# --- the changes list ---------------------------------------------------------------------------

# Changes merged in [from, to), newest first, narrowed by what is stored (repository, service, where a
# deployment of the shipped commit went). Verdict, risk area and AI assistance are the answer's own
# (graph.verdict), so the list filters those on the built answers, never here.
# $deployedTo: null, or a regex over the environment (the metrics rule for production), with $deployed
# true; $environment an exact environment name.
CHANGES_MERGED = """
MATCH (c:Change)
WHERE c.mergedAt >= $from AND c.mergedAt < $to
  AND ($repo IS NULL OR c.repo = $repo)
  AND ($service IS NULL
       OR EXISTS { (c)-[:IN]->(:Repository)-[:DEPLOYS_AS]->(:Service {name: $service}) }
       OR EXISTS { MATCH (d:Deployment)-[:SHIPPED]->(k:Commit)
                   WHERE k.sha IN [c.headSha, c.mergeCommitSha]
                     AND (d.service = $service OR EXISTS { (d)-[:TO]->(:Service {name: $service}) }) })
  AND ($environment IS NULL
       OR EXISTS { MATCH (d:Deployment)-[:SHIPPED]->(k:Commit)
                   WHERE k.sha IN [c.headSha, c.mergeCommitSha] AND d.status IN $succeeded
                     AND d.environment =~ $environment })
RETURN c.id AS id
ORDER BY c.mergedAt DESC, c.id DESC
SKIP $skip LIMIT $limit
"""

REPOSITORIES = "MATCH (r:Repository) WHERE r.fullName IS NOT NULL RETURN r.fullName AS name ORDER BY name LIMIT $limit"
SERVICES = "MATCH (s:Service) WHERE s.name IS NOT NULL RETURN s.name AS name ORDER BY name LIMIT $limit"

# --- where a fact came from ---------------------------------------------------------------------

_ORIGIN = (
    ".source, .sourceEventId, .receivedAt, raw: EXISTS { MATCH (:SourceEvent {id: n.source + ':' + n.sourceEventId}) }"
)

# The origin of every node a change's answer shows: the change, its reviews (by reviewer, time and
# commit, as approvals carry no review id), commits, sessions, evidence, deployments and incidents.
ORIGINS = f"""
MATCH (c:Change {{id: $id}})
RETURN [n IN [c] | n {{{_ORIGIN}}}][0] AS change,
  COLLECT {{ MATCH (n:Review)-[:OF]->(c)
            RETURN n {{.id, .submittedAt, .commitSha, {_ORIGIN},
                      reviewer: COLLECT {{ MATCH (p:Person)-[:SUBMITTED]->(n) RETURN p.login ORDER BY p.login }}[0]}} }}
    AS reviews,
  COLLECT {{ UNWIND $commits AS key MATCH (n:Commit {{sha: key}}) RETURN n {{key: n.sha, {_ORIGIN}}} }} AS commits,
  COLLECT {{ UNWIND $sessions AS key MATCH (n:AgentSession {{id: key}}) RETURN n {{key: n.id, {_ORIGIN}}} }}
    AS sessions,
  COLLECT {{ UNWIND $evidence AS key MATCH (n:Evidence {{id: key}}) RETURN n {{key: n.id, {_ORIGIN}}} }} AS evidence,
  COLLECT {{ UNWIND $deployments AS key MATCH (n:Deployment {{id: key}}) RETURN n {{key: n.id, {_ORIGIN}}} }}
    AS deployments,
  COLLECT {{ UNWIND $incidents AS key MATCH (n:Incident {{id: key}}) RETURN n {{key: n.id, {_ORIGIN}}} }} AS incidents
"""

# The origin of one node of each label the other pages show (an incident, a session, a deployment).
ORIGIN_OF_INCIDENT = f"MATCH (n:Incident {{id: $key}}) RETURN n {{key: n.id, {_ORIGIN}}} AS origin"
ORIGIN_OF_SESSION = f"MATCH (n:AgentSession {{id: $key}}) RETURN n {{key: n.id, {_ORIGIN}}} AS origin"
ORIGIN_OF_DEPLOYMENT = f"MATCH (n:Deployment {{id: $key}}) RETURN n {{key: n.id, {_ORIGIN}}} AS origin"
ORIGIN_OF_COMMIT = f"MATCH (n:Commit {{sha: $key}}) RETURN n {{key: n.sha, {_ORIGIN}}} AS origin"

# One stored raw document, and how many graph nodes it is the latest origin of is not asked: the
# document is looked up by its key only.
SOURCE_EVENT = with_fields("MATCH (e:SourceEvent {id: $id}) RETURN e {.*SourceEvent} AS event")

# --- services -----------------------------------------------------------------------------------

_DEPLOYMENT = "d {.id, .environment, .status, .sha, .strategy, .startedAt, .finishedAt, .creator, .ref}"

# Deployments to a service (named on the deployment or linked to the Service), newest first.
_OF_SERVICE = """
CALL () {
  MATCH (d:Deployment) WHERE d.service = $service AND d.startedAt IS NOT NULL RETURN d
  UNION
  MATCH (:Service {name: $service})<-[:TO]-(d:Deployment) WHERE d.startedAt IS NOT NULL RETURN d
}
"""

SERVICE_HISTORY = f"""{_OF_SERVICE}
WITH d ORDER BY d.startedAt DESC, d.id DESC SKIP $skip LIMIT $limit
RETURN {_DEPLOYMENT} AS deployment
"""

# Per environment, the latest successful deployment to the service (what runs there now).
SERVICE_CURRENT = f"""{_OF_SERVICE}
WITH d WHERE d.status IN $succeeded
WITH d ORDER BY d.startedAt DESC, d.id DESC
WITH d.environment AS environment, collect(d)[0] AS d
RETURN {_DEPLOYMENT} AS deployment ORDER BY environment
"""

# When the latest deployment started (the metrics page's default window ends there).
LATEST_DEPLOYMENT = """
MATCH (d:Deployment) WHERE d.startedAt IS NOT NULL
RETURN d.startedAt AS at ORDER BY d.startedAt DESC LIMIT 1
"""

# --- browser sessions ---------------------------------------------------------------------------

CREATE_WEB_SESSION = """
CREATE (s:WebSession {hash: $hash, tokenId: $tokenId, createdAt: $at, expiresAt: $expiresAt})
"""

# The principal of a live browser session: its token must still be active.
WEB_SESSION = """
MATCH (s:WebSession {hash: $hash}) WHERE s.expiresAt > $now
MATCH (t:ApiToken {id: s.tokenId}) WHERE t.revokedAt IS NULL
RETURN t.id AS id, t.role AS role, t.name AS name, s.expiresAt AS expiresAt
"""

END_WEB_SESSION = "MATCH (s:WebSession {hash: $hash}) DELETE s"

# Sessions past their end are removed whenever someone signs in.
PRUNE_WEB_SESSIONS = "MATCH (s:WebSession) WHERE s.expiresAt <= $now WITH s LIMIT 1000 DELETE s"
