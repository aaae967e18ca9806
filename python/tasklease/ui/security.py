"""Who may use the console (an optional token), and a guard against cross-site requests.

Authentication: with a token, every request must carry it, as ``Authorization: Bearer
TOKEN`` (scripts, Prometheus) or as the password of HTTP basic auth (a browser asks for it;
any user name).  Without a token the console is open to whoever can reach it, so the
command refuses to bind anything but a loopback address without one.

Cross-site request forgery: every action is a POST whose form carries a secret made when
the process starts (a page of another site cannot read it), and whose Origin (or, when a
browser sends none, Referer) and Sec-Fetch-Site headers, when present, must name this
console itself.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from typing import Optional

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

SECURITY_HEADERS = {
    # Nothing but this console itself: no script, style, image or form target elsewhere.
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class Guard:
    def __init__(self, token: Optional[str]) -> None:
        self.token = token or None
        self.csrf_token = secrets.token_urlsafe(32)

    def authenticated(self, headers: Headers) -> bool:
        if self.token is None:
            return True
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return _same(value.strip(), self.token)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            return _same(decoded.partition(":")[2], self.token)
        return False

    def same_site(self, headers: Headers, scheme: str) -> bool:
        """False when the browser says the request comes from another site."""
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return False
        here = f"{scheme}://{headers.get('host', '')}"
        origin = headers.get("origin")
        if origin is not None:
            return origin == here
        referer = headers.get("referer")
        return referer is None or referer == here or referer.startswith(here + "/")

    def csrf_ok(self, value: Optional[str]) -> bool:
        return value is not None and _same(value, self.csrf_token)


class AuthMiddleware:
    """Pure ASGI: 401 without the token; security headers on every response."""

    def __init__(self, app, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        if not self.guard.authenticated(Headers(scope=scope)):
            response = PlainTextResponse(
                "authentication required\n", status_code=401,
                headers={"www-authenticate": 'Basic realm="tasklease ui", charset="UTF-8"'},
            )
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
