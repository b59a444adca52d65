"""API tokens (stored as SHA-256 hashes) and the audit log of who read what."""

CREATE_TOKEN = """
CREATE (t:ApiToken {id: $id, hash: $hash, role: $role, name: $name, createdAt: $at})
"""

TOKEN_BY_HASH = """
MATCH (t:ApiToken {hash: $hash}) WHERE t.revokedAt IS NULL
RETURN t.id AS id, t.role AS role, t.name AS name
"""

LIST_TOKENS = """
MATCH (t:ApiToken)
RETURN t.id AS id, t.role AS role, t.name AS name, t.createdAt AS createdAt, t.revokedAt AS revokedAt
ORDER BY t.createdAt, t.id
"""

REVOKE_TOKEN = """
MATCH (t:ApiToken {id: $id}) SET t.revokedAt = coalesce(t.revokedAt, $at) RETURN t.id AS id
"""

# One transaction per batch; MERGE on the id so a batch retried after an unacknowledged commit is not doubled.
RECORD_AUDIT = """
UNWIND $rows AS row
MERGE (a:AuditEntry {id: row.id})
ON CREATE SET a.at = row.at, a.tokenId = row.tokenId, a.tokenName = row.tokenName, a.role = row.role,
              a.action = row.action, a.what = row.what, a.records = row.records, a.status = row.status
"""

# Newest first; $until, $tokenId and $action narrow it when not null.
LIST_AUDIT = """
MATCH (a:AuditEntry) WHERE a.at >= $since AND ($until IS NULL OR a.at < $until)
  AND ($tokenId IS NULL OR a.tokenId = $tokenId) AND ($action IS NULL OR a.action = $action)
RETURN a {.*} AS entry ORDER BY a.at DESC, a.id LIMIT $limit
"""
