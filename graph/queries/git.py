"""Reads of what `tracegraph ingest-git` wrote: a repository's commits with their ancestry."""

from __future__ import annotations

# A repository's commits, newest first, with the author, the agent sessions and the parents the
# graph links them to (PARENT edges, which may point at commits outside the ingested range).
REPO_COMMITS = """
MATCH (k:Commit {repo: $repo})
RETURN k {.*, author: COLLECT { MATCH (p:Person)-[:AUTHORED]->(k) RETURN p {.*} }[0],
          sessionIds: COLLECT { MATCH (s:AgentSession)-[:AUTHORED]->(k) RETURN s.id ORDER BY s.id },
          parentShas: COLLECT { MATCH (k)-[:PARENT]->(p:Commit) RETURN p.sha }} AS commit
ORDER BY k.committedAt DESC, k.sha
SKIP $skip LIMIT $limit
"""

REPO_COMMIT_COUNT = "MATCH (k:Commit {repo: $repo}) RETURN count(k) AS n"
