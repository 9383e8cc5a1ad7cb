"""The WSGI guard in front of optuna-dashboard, in process: which routes read-only mode lets
through (checked against optuna-dashboard's own route table), and token/password checks."""

from __future__ import annotations

import base64
import io
import json
import re
from typing import Any
from wsgiref.util import setup_testing_defaults

import optuna
import optuna_dashboard
import pytest

from hpsearch.search.cli.main import main
from hpsearch.search.outputs import (
    ENV_PASSWORD,
    DashboardAccess,
    DashboardAuthError,
    DashboardGuard,
    GuardConfig,
    check_bind,
    dashboard_access,
    is_read_only_request,
    redact_token,
    server_command,
)

# optuna-dashboard 0.21's GET routes, each read by hand (none writes). A release that adds a
# GET route fails test_every_get_route_was_reviewed: read the new route before adding it here
# and to READ_ONLY_ROUTES. New routes of any other method are refused without a change.
REVIEWED_GET_RULES = {
    "/",
    "/dashboard<:re:(/.*)?>",
    "/api/meta",
    "/api/studies",
    "/api/studies/<study_id:int>",
    "/api/studies/<study_id:int>/param_importances",
    "/api/studies/<study_id:int>/plot/<plot_type>",
    "/csv/<study_id:int>",
    "/favicon.ico",
    "/static/<filename:path>",
    "/incompatible-rdb-schema",
    "/artifacts/<study_id:int>/<artifact_id:re:[0-9a-fA-F-]+>",
    "/artifacts/<study_id:int>/<trial_id:int>/<artifact_id:re:[0-9a-fA-F-]+>",
}


def _sample_path(rule: str) -> str:
    """A concrete path the bottle rule matches."""
    path = rule.replace("<:re:(/.*)?>", "/studies/1/trials")
    path = re.sub(r"<\w+:int>", "7", path)
    path = re.sub(r"<\w+:re:[^>]*>", "0f1e2d3c-aaaa-bbbb", path)
    path = re.sub(r"<\w+:path>", "bundle.js", path)
    return re.sub(r"<\w+>", "x", path)


def _routes() -> list[tuple[str, str]]:
    app = optuna_dashboard.wsgi(optuna.storages.InMemoryStorage())
    return [(route.method, route.rule) for route in app.routes]


class _Stub:
    """The wrapped app: records whether a request reached it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.calls.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


def _call(
    guard: DashboardGuard, method: str, path: str, query: str = "", **headers: str
) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PORT": "8080",
        "wsgi.input": io.BytesIO(b""),
    }
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    setup_testing_defaults(environ)
    got: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        got.update(status=status, headers=dict(response_headers))

    body = b"".join(guard(environ, start_response))
    return got["status"], got["headers"], body


def test_every_get_route_was_reviewed_and_is_let_through() -> None:
    routes = _routes()
    gets = {rule for method, rule in routes if method == "GET"}
    assert gets == REVIEWED_GET_RULES, "a new GET route: review it, then add it to both lists"
    for rule in gets:
        path = _sample_path(rule)
        for method in ("GET", "HEAD", "OPTIONS"):
            assert is_read_only_request(method, path), (method, rule, path)
            assert is_read_only_request(method, path + "/"), (method, rule)  # bottle strips it


def test_read_only_refuses_every_other_route_and_method_with_403() -> None:
    routes = _routes()
    writes = [(method, rule) for method, rule in routes if method != "GET"]
    assert len(writes) >= 20  # tell, delete study, notes, user attrs, preferences, artifacts...
    stub = _Stub()
    guard = DashboardGuard(stub, GuardConfig())
    for method, rule in writes:
        path = _sample_path(rule)
        for verb in (method, method.lower()):  # bottle upper-cases the method before routing
            status, headers, body = _call(guard, verb, path)
            assert status.startswith("403"), (verb, rule, status)
            reason = json.loads(body)["reason"]
            assert "read-only" in reason and "--allow-write" in reason
            assert headers["Content-Type"] == "application/json"
    # a GET route under another method, unknown methods, unknown paths: refused too
    for method, path in [
        ("POST", "/api/studies/1"),
        ("PUT", "/dashboard"),
        ("PATCH", "/api/trials/1/tell"),
        ("PROPFIND", "/"),
        ("GET", "/api/trials/1/tell"),
        ("GET", "/api/some-new-endpoint"),
    ]:
        assert _call(guard, method, path)[0].startswith("403"), (method, path)
    assert stub.calls == []
    # reads pass
    for path in ("/", "/dashboard/studies/1", "/api/studies/3", "/csv/3", "/artifacts/1/2/ab-c"):
        assert _call(guard, "GET", path)[0] == "200 OK", path
    # with --allow-write everything reaches the app
    writable = DashboardGuard(stub, GuardConfig(allow_write=True))
    stub.calls.clear()
    for method, rule in writes:
        assert _call(writable, method, _sample_path(rule))[0] == "200 OK"
    assert len(stub.calls) == len(writes)


def test_token_required_in_the_query_a_cookie_or_a_bearer_header() -> None:
    token = "t0k-" + "x" * 40
    stub = _Stub()
    guard = DashboardGuard(stub, GuardConfig(token=token))

    def code(method: str, query: str = "", **headers: str) -> str:
        return _call(guard, method, "/api/studies", query, **headers)[0][:3]

    assert code("GET") == "401"
    assert code("GET", f"token={token}x") == "401"
    assert code("GET", authorization=f"Bearer {token[:-1]}") == "401"
    assert code("GET", cookie=f"hpsearch_dashboard_9999={token}") == "401"  # another port's
    assert stub.calls == []
    assert code("GET", authorization=f"Bearer {token}") == "200"
    assert code("GET", cookie=f"hpsearch_dashboard_8080={token}") == "200"
    assert code("GET", cookie=f"other=1; hpsearch_dashboard_8080={token}") == "200"
    # ?token= sets the cookie and redirects to the same URL without the token
    status, headers, _ = _call(guard, "GET", "/dashboard/studies/1", f"a=1&token={token}")
    assert status.startswith("302")
    assert headers["Location"] == "/dashboard/studies/1?a=1"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"hpsearch_dashboard_8080={token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # authentication comes first, then read-only: a write with no token is 401, with it 403
    assert code("DELETE") == "401"
    assert code("DELETE", authorization=f"Bearer {token}") == "403"
    assert redact_token(f"GET /x?a=1&token={token} HTTP/1.1") == "GET /x?a=1&token=*** HTTP/1.1"


def test_password_is_http_basic_with_any_user_name() -> None:
    stub = _Stub()
    guard = DashboardGuard(stub, GuardConfig(password="correct horse"))

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    status, headers, body = _call(guard, "GET", "/dashboard")
    assert status.startswith("401") and headers["WWW-Authenticate"].startswith("Basic ")
    assert "correct horse" not in body.decode()
    for bad in (basic("alice", "wrong"), basic("alice", ""), "Basic !!!", "Bearer correct horse"):
        assert _call(guard, "GET", "/dashboard", authorization=bad)[0].startswith("401"), bad
    assert stub.calls == []
    assert _call(guard, "GET", "/dashboard", authorization=basic("bob", "correct horse"))[0] == (
        "200 OK"
    )


def test_access_rules_and_no_secret_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    assert dashboard_access(allow_remote=False) == DashboardAccess(False, "none")
    remote = dashboard_access(allow_remote=True)
    assert remote.auth == "token" and len(remote.token or "") >= 40
    assert dashboard_access(allow_remote=True).token != remote.token  # fresh at every start
    assert remote.token not in repr(remote)
    argv = server_command("0.0.0.0", 0, tmp_path / "ready", None, False, remote)
    assert "--auth" in argv and "token" in argv and remote.token not in " ".join(argv)
    monkeypatch.setenv(ENV_PASSWORD, "s3cret-pass")
    access = dashboard_access(allow_remote=True, allow_write=True)
    assert (access.auth, access.token, access.allow_write) == ("password", None, True)
    assert "s3cret-pass" not in access.describe()
    argv = server_command("0.0.0.0", 0, tmp_path / "ready", None, False, access)
    assert "s3cret-pass" not in " ".join(argv) and "--allow-write" in argv
    # an empty password is refused before anything is touched
    monkeypatch.setenv(ENV_PASSWORD, "")
    with pytest.raises(DashboardAuthError):
        check_bind("127.0.0.1", allow_remote=False)
    monkeypatch.setenv("HPSEARCH_STORAGE", f"sqlite:///{tmp_path / 'none.db'}")
    assert main(["dashboard"]) == 2
    err = capsys.readouterr().err
    assert f"{ENV_PASSWORD} is set but empty" in err and "hint: " in err
    assert not (tmp_path / "none.db").exists()


def test_unauthenticated_dashboard_answers_only_loopback_host_names() -> None:
    """DNS rebinding: a page on evil.example re-pointed at 127.0.0.1 sends Host: evil.example."""
    stub = _Stub()
    guard = DashboardGuard(stub, GuardConfig())
    for host in ("127.0.0.1:8080", "localhost", "LOCALHOST:80", "[::1]:8080", "::1"):
        assert _call(guard, "GET", "/api/studies", host=host)[0] == "200 OK", host
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", "10.0.0.5:8080"):
        status, _, body = _call(guard, "GET", "/api/studies", host=host)
        assert status.startswith("403") and b"loopback" in body, host
    assert len(stub.calls) == 5
    # with a token (remote mode) the token is the protection, whatever the host name
    token = "t" * 43
    remote = DashboardGuard(stub, GuardConfig(token=token))
    assert _call(
        remote, "GET", "/api/studies", host="dash.example", authorization=f"Bearer {token}"
    )[0] == ("200 OK")
