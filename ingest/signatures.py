"""Webhook authenticity checks: pure functions of (secret, headers, raw body), constant-time.

- GitHub signs the raw body with HMAC-SHA256 and sends `X-Hub-Signature-256: sha256=<hex>`.
- GitLab sends the configured secret token verbatim in `X-Gitlab-Token` (no body signature).
- PagerDuty (V3 webhooks) signs the raw body with HMAC-SHA256 and sends
  `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`; several appear while a secret is rotated,
  and the delivery is genuine when any of them matches.
- Opsgenie's outgoing webhook integration cannot sign; it sends the custom headers configured on
  the integration ("Headers" in its settings). tracegraph expects `X-Opsgenie-Token: <token>`.

Every comparison goes through hmac.compare_digest so timing does not leak how much of a
signature was right. None of these functions raises on hostile input: they answer True or False.
"""

from __future__ import annotations

import hashlib
import hmac

OPSGENIE_HEADER = "X-Opsgenie-Token"
# Far more than PagerDuty ever sends during a rotation; bounds the work a forged header can cause.
MAX_PAGERDUTY_SIGNATURES = 16


def _bytes(value: str) -> bytes:
    return value.encode("utf-8", errors="surrogateescape")


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of body under secret (what GitHub and PagerDuty send)."""
    return hmac.new(_bytes(secret), body, hashlib.sha256).hexdigest()


def github_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for body (for tests and the fault script)."""
    return "sha256=" + hmac_sha256_hex(secret, body)


def verify_github(secret: str, body: bytes, header: str | None) -> bool:
    """True when `X-Hub-Signature-256` is `sha256=` + the HMAC-SHA256 of the raw body."""
    if not secret or not header:
        return False
    scheme, _, signature = header.strip().partition("=")
    if scheme.lower() != "sha256" or not signature:
        return False
    return hmac.compare_digest(_bytes(signature.lower()), _bytes(hmac_sha256_hex(secret, body)))


def verify_gitlab(token: str, header: str | None) -> bool:
    """True when `X-Gitlab-Token` equals the configured secret token."""
    if not token or header is None:
        return False
    return hmac.compare_digest(_bytes(header), _bytes(token))


def pagerduty_signature(secret: str, body: bytes) -> str:
    """The `X-PagerDuty-Signature` value PagerDuty sends for body (for tests and benches)."""
    return "v1=" + hmac_sha256_hex(secret, body)


def verify_pagerduty(secret: str, body: bytes, header: str | None) -> bool:
    """True when any `v1=` signature in `X-PagerDuty-Signature` is the HMAC-SHA256 of the raw body."""
    if not secret or not header:
        return False
    expected = _bytes(hmac_sha256_hex(secret, body))
    matched = False
    for part in header.split(",")[:MAX_PAGERDUTY_SIGNATURES]:
        version, _, signature = part.strip().partition("=")
        # Compare every candidate (no early exit), so timing says nothing about which one matched.
        if version == "v1" and signature:
            matched |= hmac.compare_digest(_bytes(signature.lower()), expected)
    return matched


def verify_opsgenie(token: str, header: str | None) -> bool:
    """True when the `X-Opsgenie-Token` custom header equals the configured token."""
    if not token or header is None:
        return False
    return hmac.compare_digest(_bytes(header), _bytes(token))


def verify_bearer(token: str, authorization: str | None) -> bool:
    """True when `Authorization: Bearer <token>` carries the configured token."""
    if not token or not authorization:
        return False
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(_bytes(value.strip()), _bytes(token))
