"""Security headers on every response the server sends, and the CSRF checks of the web app's forms.

Every page shows data from outside (titles, prompts, logins, check names): templates autoescape it, and
the Content-Security-Policy allows no inline script at all, so even a value that slipped through
escaping could not run. Scripts and styles come only from this server's /static.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages and the GraphiQL page: scripts, styles, images and fetches from this origin only.
PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
REFERRER_POLICY = "same-origin"  # links leave for GitHub and the like: they need not learn our URLs
# (not no-referrer: Chromium then sends `Origin: null` on our own form posts, which the CSRF check refuses)
ALWAYS = [(b"x-content-type-options", b"nosniff")]
HTML = [(b"x-frame-options", b"DENY"), (b"referrer-policy", REFERRER_POLICY.encode())]


def style_policy(css: str) -> str:
    """The policy for a self-contained page whose only style is one inline <style> block (no script)."""
    digest = hashlib.sha256(css.encode()).digest()
    return "; ".join(
        [
            "default-src 'none'",
            f"style-src 'sha256-{base64.b64encode(digest).decode()}'",
            "img-src data:",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


class SecurityHeaders:
    """nosniff on every response; on HTML also a CSP (unless the route set its own), X-Frame-Options DENY
    and a Referrer-Policy."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS:
                    headers.setdefault(name.decode(), value.decode())
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in HTML:
                        headers.setdefault(name.decode(), value.decode())
                    headers.setdefault("content-security-policy", PAGE_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- CSRF ---------------------------------------------------------------------------------------


def csrf_token(session_secret: str) -> str:
    """The form token of a browser session: derived from its secret, which only the browser's
    HttpOnly cookie holds, so another site can neither read nor compute it."""
    return hmac.new(session_secret.encode(), b"tracegraph-csrf", hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """Whether a state-changing request came from our own pages (Origin, else Sec-Fetch-Site; both
    absent is allowed: old clients, and the form token still has to match)."""
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null":
            return False
        ours = urlsplit(str(request.base_url))
        theirs = urlsplit(origin)
        return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def tokens_match(presented: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a form's token with the expected one (both must be present)."""
    return bool(presented) and bool(expected) and hmac.compare_digest(str(presented), str(expected))
