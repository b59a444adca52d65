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

RECORD_AUDIT = """
CREATE (:AuditEntry {id: $id, at: $at, tokenId: $tokenId, tokenName: $tokenName, role: $role,
                     action: $action, what: $what, records: $records, status: $status})
"""

LIST_AUDIT = """
MATCH (a:AuditEntry) WHERE a.at >= $since
RETURN a {.*} AS entry ORDER BY a.at DESC, a.id LIMIT $limit
"""

ACCESS_SCHEMA = [
    "CREATE CONSTRAINT apitoken_id IF NOT EXISTS FOR (t:ApiToken) REQUIRE t.id IS UNIQUE",
    "CREATE CONSTRAINT apitoken_hash IF NOT EXISTS FOR (t:ApiToken) REQUIRE t.hash IS UNIQUE",
    "CREATE INDEX auditentry_at IF NOT EXISTS FOR (a:AuditEntry) ON (a.at)",
]
