"""The live dashboard while a real study runs: security of the server, status, and the UI in
headless Chromium (study list, a trial's intermediate values growing, a pruned trial)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.search.cli.main import main
from hpsearch.storage import study_id_of, trial_id_of
from tests.dashboard.conftest import (
    CHROMIUM,
    SECRET,
    STUDY,
    Dashboard,
    LiveStudy,
    children,
    chromium_args,
    hpsearch_argv,
    require_chromium,
)

pytestmark = pytest.mark.slow


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket ``pid`` listens on, from /proc/net/tcp{,6}."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            hex_ip, hex_port = cols[1].split(":")
            raw = bytes.fromhex(hex_ip)
            if family == socket.AF_INET:
                raw = raw[::-1]
            else:
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
            out.append((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return out


def test_dashboard_listens_on_loopback_only_and_never_shows_the_password(
    live_study: LiveStudy, dashboard: Dashboard
) -> None:
    servers = children(dashboard.process.pid)
    assert len(servers) == 1, servers
    server = servers[0]
    for pid in (dashboard.process.pid, server):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert not any(SECRET.encode() in arg for arg in argv), argv
        assert not any(b"postgresql" in arg for arg in argv), argv
    # The URL reaches the server through its environment, which only its owner can read.
    assert SECRET.encode() in Path(f"/proc/{server}/environ").read_bytes()
    assert oct(Path(f"/proc/{server}/environ").stat().st_mode & 0o777) == "0o400"
    assert _listening(server) == [("127.0.0.1", dashboard.port)]
    assert dashboard.api("/api/meta")["artifact_is_available"] is True
    assert "Read-only; pass --allow-write" in dashboard.log.read_text()
    dashboard.get(f"/api/studies/{dashboard.study_id}?after=0")  # a request that hits the DB
    log = dashboard.log.read_text()
    assert "postgres:***@" in log and SECRET not in log, log


def test_a_fake_tell_on_a_running_trial_is_refused(
    live_study: LiveStudy, dashboard: Dashboard
) -> None:
    """The issue's reproduction: ``POST /api/trials/<id>/tell`` with -100 on a running trial
    made it the study's best; ``DELETE /api/studies/<id>`` deleted the study."""
    running = live_study.wait_for(
        "a running trial",
        lambda: [t for t in live_study.trials() if t.state == TrialState.RUNNING],
    )[0]
    tell = json.dumps({"state": "Complete", "values": [-100]}).encode()
    for method, path, body in [
        ("POST", f"/api/trials/{trial_id_of(running)}/tell", tell),
        ("DELETE", f"/api/studies/{dashboard.study_id}", None),
    ]:
        request = urllib.request.Request(
            f"{dashboard.base}{path}",
            data=body,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 403 and b"read-only" in refused.value.read()
    assert live_study.study_exists()
    trial = next(t for t in live_study.trials() if t.number == running.number)
    assert trial.value != -100 and trial.state != TrialState.FAIL


def test_non_loopback_address_is_refused_without_the_flag(
    live_study: LiveStudy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpsearch.search.outputs import check_bind

    monkeypatch.setenv("HPSEARCH_STORAGE", live_study.secret_url)
    assert main(["dashboard", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve the dashboard on 0.0.0.0" in err and "hint: " in err
    assert "ssh -L" in err and SECRET not in err
    warning = check_bind("0.0.0.0", allow_remote=True)
    assert warning is not None and "token" in warning and "plain HTTP" in warning
    assert check_bind("::1", allow_remote=False) is None
    # a port already taken is one clear line, not a traceback
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dashboard", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err and "--port" in err


def test_status_while_the_study_runs(
    live_study: LiveStudy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live_study.wait_for(
        "a running trial",
        lambda: any(t.state == TrialState.RUNNING for t in live_study.trials()),
    )
    monkeypatch.setenv("HPSEARCH_STORAGE", live_study.secret_url)
    assert main(["status", STUDY, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["studies"][0]
    assert row["name"] == STUDY and row["budget"] == 10 and row["space"] == "dashboard_live"
    assert row["running"] + row["finished"] >= 1
    if row["state"] == "running":
        assert row["running"] >= 1
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["STUDY", "STATE", "RUNNING", "FINISHED"]
    assert lines[1].startswith(STUDY) and "/10" in lines[1]


def _intermediate_rows(page: Any) -> list[str]:
    rows = page.locator("p:text-is('Intermediate Values') + div p")
    return [str(t) for t in rows.all_inner_texts()]


def _open_trial(page: Any, board: Dashboard, number: int) -> None:
    page.goto(f"{board.base}/dashboard/studies/{board.study_id}/trials?numbers={number}")
    page.get_by_text(f"Trial {number} (trial_id=", exact=False).wait_for(timeout=30_000)


@pytest.mark.browser
def test_browser_shows_the_study_live_values_and_a_pruned_trial(
    live_study: LiveStudy, dashboard: Dashboard, artifacts_dir: Path
) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    shots = artifacts_dir / "dashboard"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # 1. the study list shows the study
        page.goto(f"{dashboard.base}/dashboard")
        page.get_by_text(f"1. {STUDY}", exact=False).wait_for(timeout=30_000)
        page.screenshot(path=shots / "01-study-list.png")

        # 2. a running trial's intermediate values grow between two looks at its page
        grown = None
        deadline = time.monotonic() + 120
        while grown is None and time.monotonic() < deadline:
            running = [
                t
                for t in dashboard.trials()
                if t["state"] == "Running" and t["intermediate_values"]
            ]
            if not running:
                assert live_study.process.poll() is None, live_study.log_tail()
                time.sleep(0.5)
                continue
            number = running[0]["number"]
            _open_trial(page, dashboard, number)
            first = _intermediate_rows(page)
            if not first:
                continue
            page.screenshot(path=shots / "02-running-trial-first-look.png")
            for _ in range(40):
                time.sleep(1.0)
                _open_trial(page, dashboard, number)
                later = _intermediate_rows(page)
                if len(later) > len(first):
                    grown = (number, first, later)
                    break
                state = next(t for t in dashboard.trials() if t["number"] == number)["state"]
                if state != "Running":
                    break  # pruned or finished before its next evaluation: watch another
        assert grown is not None, "no trial's intermediate values grew in the dashboard"
        number, first, later = grown
        assert later[: len(first)] == first  # the earlier evaluations are still there
        page.screenshot(path=shots / "03-running-trial-later-look.png")

        # 3. read-only: "Fail Trial" on a running trial fails with the reason, the trial runs on
        refused = None
        while refused is None and live_study.process.poll() is None:
            running = [t for t in dashboard.trials() if t["state"] == "Running"]
            if not running:
                time.sleep(0.5)
                continue
            _open_trial(page, dashboard, running[0]["number"])
            button = page.get_by_role("button", name="Fail Trial")
            if button.count() == 0:
                continue  # it finished before the page loaded
            button.click()
            page.get_by_text("Failed to update trial", exact=False).wait_for(timeout=30_000)
            assert "read-only" in page.locator("body").inner_text()
            refused = running[0]["number"]
        assert refused is not None, "no running trial left to try a write on"
        page.screenshot(path=shots / "03b-read-only-fail-trial-refused.png")
        assert next(t for t in live_study.trials() if t.number == refused).state != (
            TrialState.FAIL
        )

        # 4. a pruned trial shows as pruned, with its reason and the per-trial attributes
        live_study.wait_for(
            "a pruned trial",
            lambda: [t for t in live_study.trials() if t.state == TrialState.PRUNED],
        )
        pruned = next(t for t in live_study.trials() if t.state == TrialState.PRUNED)
        _open_trial(page, dashboard, pruned.number)
        item = page.locator("li", has=page.get_by_text(f"Trial {pruned.number}", exact=True))
        item.get_by_text("Pruned", exact=True).wait_for(timeout=30_000)
        detail = page.locator("body").inner_text()
        for attr in (
            "prune_reason pruned by the search at step",
            "effective_batch_size 8",
            "gradient_accumulation_steps",
            "trainable_params",
            "device cpu",
            "peak_memory_mb",
            "tokens_per_s",
            "samples_per_s",
            "wall_time_s",
        ):
            assert attr in detail, attr
        page.screenshot(path=shots / "04-pruned-trial.png", full_page=True)

        # 5. the study page (history, intermediate values) and the study note
        live_study.wait_for(
            "three finished trials",
            lambda: sum(t.state.is_finished() for t in live_study.trials()) >= 3,
        )
        page.goto(dashboard.url)
        page.get_by_text("Intermediate values", exact=True).wait_for(timeout=30_000)
        page.wait_for_timeout(1500)  # let plotly finish drawing
        page.screenshot(path=shots / "05-study-page.png", full_page=True)
        page.goto(f"{dashboard.url}/note")
        page.get_by_text("Command:", exact=False).first.wait_for(timeout=30_000)
        note = page.locator("body").inner_text()
        assert "hpsearch run --space" in note and "Hardware (driver)" in note
        assert SECRET not in note
        browser.close()


def test_run_dashboard_flags() -> None:
    """The ``hpsearch run --dashboard`` flags and the options they give the session."""
    import argparse

    from hpsearch.search.cli.dashboard import add_run_flags, run_options

    parser = argparse.ArgumentParser()
    add_run_flags(parser)
    assert run_options(parser.parse_args([])) is None
    options = run_options(parser.parse_args(["--dashboard", "--dashboard-port", "0"]))
    assert (options.host, options.port, options.allow_remote) == ("127.0.0.1", 0, False)
    remote = parser.parse_args(
        ["--dashboard", "--dashboard-host", "0.0.0.0", "--allow-remote-dashboard"]
    )
    assert run_options(remote).allow_remote is True
    assert options.allow_write is False
    writable = parser.parse_args(["--dashboard", "--allow-write-dashboard"])
    assert run_options(writable).allow_write is True


def test_started_server_has_no_url_in_argv_and_stops(live_study: LiveStudy, tmp_path: Path) -> None:
    """``start_dashboard`` (what ``hpsearch run --dashboard`` uses) on a password URL."""

    from hpsearch.search.outputs import DashboardOptions, dashboard_beside_run
    from hpsearch.storage import parse_storage_url

    location = parse_storage_url(live_study.secret_url)
    study = live_study.study()
    lines: list[str] = []
    artifacts = tmp_path / "live" / "artifacts"
    options = DashboardOptions(port=0)
    with dashboard_beside_run(options, location, study, artifacts, lines.append) as handle:
        assert handle is not None
        argv = Path(f"/proc/{handle.pid}/cmdline").read_bytes()
        assert SECRET.encode() not in argv and b"postgresql" not in argv
        with urllib.request.urlopen(f"{handle.url}/studies/{study_id_of(study)}") as response:
            assert response.status == 200
        delete = urllib.request.Request(
            f"http://127.0.0.1:{handle.port}/api/studies/{study_id_of(study)}", method="DELETE"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(delete)
        assert refused.value.code == 403
        pid = handle.pid
    url = handle.study_url(study_id_of(study))
    assert lines == [
        f"Dashboard: {url} (read-only; pass --allow-write-dashboard to change the study from "
        "it; stops with this run)"
    ]
    assert not handle.alive() and not Path(f"/proc/{pid}/cmdline").exists()
    log = (tmp_path / "live" / "dashboard.log").read_text()
    assert "listening on 127.0.0.1" in log and SECRET not in log


def test_server_ends_with_its_parent_even_on_sigkill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    # Reading commands never create a database: the study must exist first.
    optuna.create_study(study_name="exists", storage=url)
    env = {**os.environ, "HPSEARCH_STORAGE": url}
    log = tmp_path / "dashboard.log"
    with open(log, "wb") as out:
        parent = subprocess.Popen(
            hpsearch_argv("dashboard", "--port", "0"), env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while not re.search(r"http://127\.0\.0\.1:\d+/dashboard", log.read_text()):
            assert parent.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        (server,) = children(parent.pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 15
        while Path(f"/proc/{server}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not Path(f"/proc/{server}").exists(), "the server outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
