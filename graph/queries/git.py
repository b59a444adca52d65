"""Reads of what `tracegraph ingest-git` wrote: a repository's commits with their ancestry."""

from __future__ import annotations

from graph.queries.core import with_fields

# A repository's commits, newest first, with the author, the agent sessions and the parents the
# graph links them to (PARENT edges, which may point at commits outside the ingested range).
REPO_COMMITS = with_fields("""
MATCH (k:Commit {repo: $repo})
RETURN k {.*Commit, author: COLLECT { MATCH (p:Person)-[:AUTHORED]->(k) RETURN p {.*Person} ORDER BY p.login }[0],
          sessionIds: COLLECT { MATCH (s:AgentSession)-[:AUTHORED]->(k) RETURN s.id ORDER BY s.id },
          parentShas: COLLECT { MATCH (k)-[:PARENT]->(p:Commit) RETURN p.sha }} AS commit
ORDER BY k.committedAt DESC, k.sha
SKIP $skip LIMIT $limit
""")

REPO_COMMIT_COUNT = "MATCH (k:Commit {repo: $repo}) RETURN count(k) AS n"
