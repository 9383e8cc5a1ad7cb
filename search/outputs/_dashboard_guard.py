"""The WSGI layer in front of optuna-dashboard: read-only by default, and authentication.

optuna-dashboard has no authentication, and its API can change the study: ``DELETE
/api/studies/<id>``, ``POST /api/trials/<id>/tell`` (a running trial told COMPLETE with any
value becomes the best trial), notes, user attributes, artifacts, preferential feedback, a
schema upgrade. :class:`DashboardGuard` wraps the app in the server process and

* without ``allow_write``, lets through only **known read-only routes** (GET/HEAD/OPTIONS on
  the paths in :data:`READ_ONLY_ROUTES`, reviewed against optuna-dashboard 0.21's ``_app.py``,
  ``_rdb_migration.py`` and ``artifact/_backend.py``; none of its GET routes writes). Every
  other request, including a route a later release adds, gets 403: an allow-list, not a
  deny-list;
* with a token or a password, answers 401 to every request without it. The token comes as
  ``?token=`` (answered with a cookie and a redirect to the same URL without it), a cookie, or
  ``Authorization: Bearer``; the password as HTTP Basic (any user name). Both are compared in
  constant time (``hmac.compare_digest`` of SHA-256 digests, so not even the length leaks).

Without a token or a password (loopback only), only requests whose ``Host`` header names the
loopback interface are served (``127.0.0.1``, ``localhost``, ``[::1]``, any port): a web page
that re-points its own host name at 127.0.0.1 (DNS rebinding) cannot read the study through
the visitor's browser.

Secrets reach the server through its environment (:data:`ENV_TOKEN`, :data:`ENV_PASSWORD`),
never its command line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

__all__ = [
    "ENV_PASSWORD",
    "ENV_TOKEN",
    "READ_ONLY_METHODS",
    "READ_ONLY_ROUTES",
    "DashboardGuard",
    "GuardConfig",
    "is_loopback_host",
    "is_read_only_request",
    "redact_token",
]

ENV_PASSWORD = "HPSEARCH_DASHBOARD_PASSWORD"  # set by the user: HTTP Basic password
ENV_TOKEN = "HPSEARCH_DASHBOARD_TOKEN"  # set by hpsearch for its server process only
TOKEN_PARAM = "token"
COOKIE_PREFIX = "hpsearch_dashboard_"

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_INT = r"-?\d+"  # bottle's <name:int>
_ARTIFACT = r"[0-9a-fA-F-]+"
# Every GET route of optuna-dashboard 0.21, each read-only (tests/dashboard/test_guard.py
# checks this list against the app's own route table, so an upgrade that adds one fails there).
READ_ONLY_ROUTES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        r"",  # "/" redirects to /dashboard (bottle strips the trailing "/" first)
        r"/dashboard(/.*)?",  # the single-page app (client-side routes)
        r"/api/meta",
        r"/api/studies",
        rf"/api/studies/{_INT}",
        rf"/api/studies/{_INT}/param_importances",
        rf"/api/studies/{_INT}/plot/[^/]+",
        rf"/csv/{_INT}",
        r"/favicon\.ico",
        r"/static/.+",
        rf"/artifacts/{_INT}/{_ARTIFACT}",
        rf"/artifacts/{_INT}/{_INT}/{_ARTIFACT}",
        r"/incompatible-rdb-schema",  # GET shows the page; the POST that upgrades is refused
    )
)

READ_ONLY_REASON = (
    "the dashboard is read-only: {method} {path} refused. Restart it with --allow-write "
    "(hpsearch dashboard) or --allow-write-dashboard (hpsearch run/resume) to allow changes"
)
TOKEN_REASON = (
    "authentication required: open the dashboard URL with ?token=... that hpsearch printed at "
    "start, or send 'Authorization: Bearer TOKEN'"
)
HOST_REASON = (
    "this dashboard answers only requests addressed to the loopback interface (Host "
    "127.0.0.1, localhost or [::1]); open it as http://127.0.0.1:PORT"
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PASSWORD_REASON = (
    "authentication required: HTTP Basic, any user name, the password in "
    f"{ENV_PASSWORD} of the process serving the dashboard"
)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _path(environ: dict[str, Any]) -> str:
    """PATH_INFO as optuna-dashboard routes it (its hook strips trailing slashes)."""
    return str(environ.get("PATH_INFO", "")).rstrip("/")


def is_read_only_request(method: str, path: str) -> bool:
    """True for a request the read-only mode lets through (``path``: PATH_INFO)."""
    if method.upper() not in READ_ONLY_METHODS:  # bottle upper-cases the method too
        return False
    path = path.rstrip("/")
    return any(route.fullmatch(path) for route in READ_ONLY_ROUTES)


def is_loopback_host(header: str) -> bool:
    """True when an HTTP ``Host`` header names the loopback interface (any port)."""
    host = header.strip().lower()
    if host.startswith("["):  # [::1]:8080
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host in LOOPBACK_HOSTS


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


def _same(given: str | None, expected: bytes) -> bool:
    return given is not None and hmac.compare_digest(_digest(given), expected)


_TOKEN_IN_TEXT = re.compile(rf"([?&]{TOKEN_PARAM}=)[^&\s\"']*")


def redact_token(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter replaced by ``***``."""
    return _TOKEN_IN_TEXT.sub(r"\1***", text)


@dataclass(frozen=True)
class GuardConfig:
    """What the guard enforces. ``token`` and ``password``: at most one."""

    allow_write: bool = False
    token: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        if self.token is not None and self.password is not None:
            raise ValueError("the dashboard takes a token or a password, not both")
        for name in ("token", "password"):
            if getattr(self, name) == "":
                raise ValueError(f"the dashboard {name} is empty")


class DashboardGuard:
    """The WSGI app that serves ``app`` under :class:`GuardConfig`'s rules."""

    def __init__(self, app: WSGIApp, config: GuardConfig) -> None:
        self.app = app
        self.config = config
        self._token = _digest(config.token) if config.token is not None else None
        self._password = _digest(config.password) if config.password is not None else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = _path(environ)
        unauthenticated = self._token is None and self._password is None
        if unauthenticated and not is_loopback_host(str(environ.get("HTTP_HOST", "127.0.0.1"))):
            return _refuse(start_response, "403 Forbidden", HOST_REASON)
        if self._token is not None:
            login = self._token_login(environ, start_response)
            if login is not None:
                return login
            if not self._token_ok(environ):
                return _refuse(start_response, "401 Unauthorized", TOKEN_REASON)
        if self._password is not None and not self._password_ok(environ):
            realm = [("WWW-Authenticate", 'Basic realm="hpsearch dashboard", charset="UTF-8"')]
            return _refuse(start_response, "401 Unauthorized", PASSWORD_REASON, realm)
        if not self.config.allow_write and not is_read_only_request(method, path):
            shown = json.dumps(path or "/")  # no control characters into the log
            sys.stderr.write(f"refused (read-only dashboard): {method} {shown}\n")
            reason = READ_ONLY_REASON.format(method=method, path=path or "/")
            return _refuse(start_response, "403 Forbidden", reason)
        return self.app(environ, start_response)

    # -- token ------------------------------------------------------------------------------

    def _cookie_name(self, environ: dict[str, Any]) -> str:
        # one cookie per port: two dashboards on one host keep their own tokens
        return f"{COOKIE_PREFIX}{environ.get('SERVER_PORT', '')}"

    def _token_login(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes] | None:
        """``?token=`` on a GET: the right one sets the cookie and redirects without it."""
        query = parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        given = [value for key, value in query if key == TOKEN_PARAM]
        if not given:
            return None
        assert self._token is not None
        if len(given) != 1 or not _same(given[0], self._token):
            return _refuse(start_response, "401 Unauthorized", "wrong token; " + TOKEN_REASON)
        if str(environ.get("REQUEST_METHOD", "GET")).upper() not in ("GET", "HEAD"):
            return None  # the token authenticates this request only
        rest = urlencode([(key, value) for key, value in query if key != TOKEN_PARAM])
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        location = quote(path.encode("latin-1", "replace"), safe="/") or "/"
        cookie = f"{self._cookie_name(environ)}={given[0]}; Path=/; HttpOnly; SameSite=Strict"
        headers = [
            ("Location", location + (f"?{rest}" if rest else "")),
            ("Set-Cookie", cookie),
            ("Cache-Control", "no-store"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]
        start_response("302 Found", headers)
        return [b"authenticated\n"]

    def _token_ok(self, environ: dict[str, Any]) -> bool:
        assert self._token is not None
        query = parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        given = [value for key, value in query if key == TOKEN_PARAM]
        if len(given) == 1 and _same(given[0], self._token):
            return True
        scheme, _, credentials = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        if scheme.lower() == "bearer" and _same(credentials.strip(), self._token):
            return True
        try:
            cookies = SimpleCookie(str(environ.get("HTTP_COOKIE", "")))
        except CookieError:
            return False
        morsel = cookies.get(self._cookie_name(environ))
        return morsel is not None and _same(morsel.value, self._token)

    # -- password ---------------------------------------------------------------------------

    def _password_ok(self, environ: dict[str, Any]) -> bool:
        assert self._password is not None
        scheme, _, credentials = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        _user, sep, password = decoded.partition(":")
        return bool(sep) and _same(password, self._password)


def _refuse(
    start_response: StartResponse,
    status: str,
    reason: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    """A short JSON body with ``reason``: optuna-dashboard's UI shows it in its error toast."""
    body = (json.dumps({"reason": reason}) + "\n").encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        *(extra or []),
    ]
    start_response(status, headers)
    return [body]
