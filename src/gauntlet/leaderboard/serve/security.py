"""Who may read the board, and the headers every answer carries.

A server bound to a loopback address may run without a token; any other address needs one.
With a token every request needs it: as ``Authorization: Bearer TOKEN`` (scripts), or once as
``?token=TOKEN``, which sets an HttpOnly cookie and redirects to the same address without it
(browsers). A missing or wrong token gets 401. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from typing import Any
from urllib.parse import urlencode

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from gauntlet.errors import GauntletError

TOKEN_ENV = "GAUNTLET_SERVE_TOKEN"
COOKIE = "gauntlet_token"
# Scripts and styles come from the server's own files only: no inline script, no inline event
# handler, nothing from elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> str | None:
    """The token to require (from ``--token`` or $GAUNTLET_SERVE_TOKEN); refuses a
    non-loopback address without one."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < 16:
        raise GauntletError(
            "--token: use at least 16 characters (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe())')"
        )
    if not is_loopback(host) and not token:
        raise GauntletError(
            f"--host {host}: serving beyond this machine needs a token; give --token TOKEN or "
            f"set ${TOKEN_ENV} (at least 16 characters), or keep the default --host 127.0.0.1"
        )
    return token


class TokenAndHeaders(BaseHTTPMiddleware):
    """Checks the token (when there is one) and adds :data:`HEADERS` to every answer."""

    def __init__(self, app: Any, token: str | None) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        if self.token is not None:
            given = request.query_params.get("token")
            if given is not None:
                if not _same(given, self.token):
                    return _denied(request)
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
                response: Response = RedirectResponse(target, status_code=303)
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
                return _headed(response)
            header = request.headers.get("authorization", "")
            bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
            cookie = request.cookies.get(COOKIE)
            if not any(v is not None and _same(v, self.token) for v in (bearer, cookie)):
                return _denied(request)
        return _headed(await call_next(request))


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def _denied(request: Request) -> Response:
    return _headed(
        JSONResponse(
            {"error": "a valid token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN once"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="gauntlet"'},
        )
    )


def _headed(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
