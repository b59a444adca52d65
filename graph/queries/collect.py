"""The collectors' own records (where each one stopped) and the posture reads of what they collected.

A CollectCursor is not part of the traceability graph (graph.snapshot leaves it out, like API tokens):
it says, per provider account, repository or project and resource, how far a collection got, so the
next run fetches only what changed and a killed run resumes where its last written page ended.
"""

CURSOR = """
MATCH (c:CollectCursor {id: $id}) RETURN c.state AS state, c.updatedAt AS updatedAt
"""

# The state is a JSON document owned by the collector; the writer replaces it whole.
SAVE_CURSOR = """
MERGE (c:CollectCursor {id: $id})
SET c.state = $state, c.updatedAt = $at
"""

FORGET_CURSORS = """
MATCH (c:CollectCursor) WHERE c.id STARTS WITH $prefix DETACH DELETE c
"""

POSTURE = """
MATCH (r:Repository {fullName: $repo})
RETURN r {.fullName, .url, .defaultBranch, .protected, .requiredApprovals, .dismissStaleReviews,
          .requireCodeOwnerReviews, .requireLastPushApproval, .enforceAdmins, .bypassActors,
          .requiredChecks, .postureSources, .postureAt} AS repository
"""
