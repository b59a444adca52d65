"""Export statements: which changes a scope holds, the subgraph behind their answers, raw documents.

Times are compared as the 'YYYY-MM-DDTHH:MM:SSZ' strings the ingesters store, so a range on an
indexed property (Change.mergedAt, Deployment.startedAt) is an index seek.
"""

from __future__ import annotations

# Changes merged in [start, end).
CHANGE_IDS_MERGED_BETWEEN = """
MATCH (c:Change) WHERE c.mergedAt >= $start AND c.mergedAt < $end
RETURN c.id AS id ORDER BY c.mergedAt, c.id
"""

# Changes a deployment to the service started in [start, end) shipped: the ones whose final head or
# merge commit it deployed (the same link the five-minute answer lists under `deployments`).
CHANGE_IDS_DEPLOYED_TO = """
CALL {
  MATCH (d:Deployment)-[:TO]->(:Service {name: $service})
  WHERE d.startedAt >= $start AND d.startedAt < $end RETURN d
  UNION
  MATCH (d:Deployment) WHERE d.service = $service AND d.startedAt >= $start AND d.startedAt < $end RETURN d
}
MATCH (d)-[:SHIPPED]->(k:Commit)<-[:CONTAINS|MERGED_AS]-(c:Change)
WHERE k.sha IN [c.headSha, c.mergeCommitSha]
RETURN DISTINCT c.id AS id ORDER BY id
"""

SERVICE_KNOWN = """
RETURN EXISTS { MATCH (:Service {name: $service}) } OR EXISTS { MATCH (:Deployment {service: $service}) } AS known
"""

# Every node the five-minute answers of $ids rest on (the walk mirrors CHANGE_ANSWER), then every
# edge between two of them. Reviewers, operators and authors come along so each approval and
# session can be checked against the people it names.
SUBGRAPH = """
UNWIND $ids AS cid
MATCH (c:Change {id: cid})
WITH c, [sha IN [c.headSha, c.mergeCommitSha] WHERE sha IS NOT NULL] AS shipped,
     COLLECT { MATCH (c)-[:CONTAINS|MERGED_AS]->(k:Commit) RETURN DISTINCT k.sha } AS direct
WITH c, shipped,
     direct + COLLECT { UNWIND direct AS head MATCH (k:Commit {pushHead: head})
                        WHERE NOT k.sha IN direct RETURN DISTINCT k.sha } AS shas
WITH c, shipped,
     COLLECT { UNWIND shas + [m IN shipped WHERE NOT m IN shas] AS sha
               MATCH (k:Commit {sha: sha}) RETURN DISTINCT k } AS commits
WITH c, commits,
     COLLECT { MATCH (s:AgentSession)-[:PROPOSED]->(c) RETURN s
               UNION
               UNWIND commits AS k MATCH (k)<-[:AUTHORED]-(s:AgentSession) RETURN s } AS sessions,
     COLLECT { UNWIND shipped AS sha MATCH (d:Deployment)-[:SHIPPED]->(:Commit {sha: sha})
               RETURN DISTINCT d } AS deployments
WITH c, commits, sessions, deployments,
     COLLECT { MATCH (i:Incident)-[:CAUSED_BY]->(c) RETURN i
               UNION
               UNWIND deployments AS d MATCH (i:Incident)-[:CAUSED_BY]->(d) RETURN i } AS incidents
WITH [c] + commits + sessions + deployments + incidents
     + COLLECT { MATCH (c)-[:IN]->(r:Repository) RETURN r AS n }
     + COLLECT { MATCH (p:Person)-[:AUTHORED]->(c) RETURN p AS n }
     + COLLECT { UNWIND commits AS k MATCH (p:Person)-[:AUTHORED]->(k) RETURN p AS n }
     + COLLECT { UNWIND sessions AS s MATCH (p:Person)-[:OPERATED]->(s) RETURN p AS n }
     + COLLECT { MATCH (r:Review)-[:OF]->(c) RETURN r AS n }
     + COLLECT { MATCH (p:Person)-[:SUBMITTED]->(:Review)-[:OF]->(c) RETURN p AS n }
     + COLLECT { UNWIND commits AS k MATCH (e:Evidence)-[:VERIFIES]->(k) RETURN e AS n }
     + COLLECT { UNWIND deployments AS d MATCH (d)-[:TO]->(s:Service) RETURN s AS n }
     + COLLECT { UNWIND incidents AS i MATCH (i)-[:AFFECTS]->(s:Service) RETURN s AS n }
     + COLLECT { UNWIND incidents AS i MATCH (p:Postmortem)-[:ANALYZES]->(i) RETURN p AS n }
     + COLLECT { MATCH (p:Postmortem)-[:ANALYZES]->(c) RETURN p AS n } AS found
UNWIND found AS n
WITH collect(DISTINCT n) AS nodes
RETURN [n IN nodes | {element: elementId(n), labels: labels(n), props: properties(n)}] AS nodes,
       COLLECT { UNWIND nodes AS a MATCH (a)-[r]->(b) WHERE b IN nodes
                 RETURN {type: type(r), from: elementId(a), to: elementId(b), props: properties(r)} } AS edges
"""

SOURCE_EVENTS = """
UNWIND $ids AS id
MATCH (e:SourceEvent {id: id})
RETURN e {.*} AS event ORDER BY e.id
"""
