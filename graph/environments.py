"""What "production" means, in one place: the metrics, the verdict's staged-rollout rule and the gates
read environment names the same way.

*Production* is an environment with a token `production`, `prod` or `live` (case-insensitive), not
preceded by `pre` or `non` (`prod-eu` and `Live` are, `preprod` and `non-prod` are not).
"""

from __future__ import annotations

import re

# Python's re and Neo4j's (Java) regex read this the same way; `=~` matches the whole string.
PRODUCTION = re.compile(
    r"(?i)(?!.*\b(?:pre|non)[-_ .]?(?:production|prod|live)\b)(?:.*[^a-z0-9])?(?:production|prod|live)(?:[^a-z0-9].*)?"
)


def is_production(environment: str | None) -> bool:
    """Whether a deployment environment name means production."""
    return bool(environment) and PRODUCTION.fullmatch(environment or "") is not None
