"""What a finished study gives: status/studies, the exported best adapter (loads with peft and
reproduces the recorded metric), trial files through the artifact store, the HTML report."""

from __future__ import annotations

import json
import tarfile
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.search.cli.main import main
from hpsearch.storage import storage_of, study_id_of, trial_id_of
from tests.dashboard.conftest import (
    BUDGET,
    CHROMIUM,
    MAX_STEPS,
    SECRET,
    STUDY,
    Dashboard,
    LiveStudy,
    chromium_args,
    require_chromium,
)

pytestmark = pytest.mark.slow
PLOT_IDS = (
    "plot-optimization-history",
    "plot-intermediate-values",
    "plot-param-importances",
    "plot-parallel-coordinate",
    "plot-slice",
)


@pytest.fixture
def finished(live_study: LiveStudy, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    study = live_study.wait_finished()
    monkeypatch.setenv("HPSEARCH_STORAGE", live_study.secret_url)
    return study


def test_status_and_studies_of_the_finished_study(
    finished: optuna.Study, capsys: pytest.CaptureFixture[str]
) -> None:
    trials = finished.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    assert main(["status", STUDY, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["studies"][0]
    assert row["state"] == "done" and row["running"] == 0 and row["finished"] == BUDGET
    assert row["complete"] == states.count(TrialState.COMPLETE)
    assert row["pruned"] == states.count(TrialState.PRUNED) >= 1
    assert row["failed"] == states.count(TrialState.FAIL) == 0
    assert row["best_number"] == finished.best_trial.number
    assert row["best_value"] == pytest.approx(finished.best_value)
    assert row["compute"] is None and row["paused"] == 0  # no compute budget, nothing paused
    assert main(["status", "--watch", "--interval", "0.1"]) == 0  # a done study: one refresh
    out = capsys.readouterr().out
    assert f"{BUDGET}/{BUDGET}" in out and "done" in out and SECRET not in out
    assert main(["studies"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["STUDY", "SPACE"] and out[1].split()[:2] == [
        STUDY,
        "dashboard_live",
    ]
    assert main(["status", "no-such-study"]) == 2
    err = capsys.readouterr().err
    assert "no study named 'no-such-study'" in err and "existing studies: live" in err
    assert SECRET not in err


def _peft_load(base_path: str, folder: Path) -> Any:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_path)
    return PeftModel.from_pretrained(base, str(folder))


def _check_lora_weights_loaded(model: Any, folder: Path) -> None:
    from safetensors.torch import load_file

    saved = load_file(str(folder / "adapter_model.safetensors"))
    state = model.state_dict()
    checked = 0
    for key, tensor in saved.items():
        live_key = key.replace(".lora_B.weight", ".lora_B.default.weight")
        if live_key in state and ".lora_B." in key:
            assert bool((state[live_key] == tensor).all()), key
            assert float(tensor.abs().sum()) > 0, key  # trained: lora_B starts at zero
            checked += 1
    assert checked > 0


def _pickles(folder: Path) -> list[str]:
    """Files under ``folder`` that hold a pickle: raw (protocol 2+) or in a torch.save zip."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(path, "rb") as handle:
            head = handle.read(4)
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            found.append(path.name)
        elif head == b"PK\x03\x04" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if any(name.endswith(".pkl") for name in archive.namelist()):
                    found.append(path.name)
    return found


def test_best_export_loads_with_peft_and_reproduces_the_metric(
    finished: optuna.Study,
    live_study: LiveStudy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hpsearch.trainers import evaluate_saved

    best = finished.best_trial
    assert main(["best", STUDY]) == 0
    out = capsys.readouterr().out
    assert f"best trial #{best.number}, eval_loss = {best.value:.6g}" in out
    for name, value in best.params.items():
        assert f"{name}" in out and str(value) in out
    dest = tmp_path / "best"
    assert main(["best", STUDY, "--export", str(dest), "--verify"]) == 0
    out = capsys.readouterr().out
    assert f"Exported trial #{best.number}" in out and "Verified: evaluated again" in out
    files = {p.name for p in dest.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= files
    assert {"training_arguments.json", "lora_config.json", "best_trial.json"} <= files
    # no pickle (HF's training_args.bin needs weights_only=False), in the export or the trial
    assert _pickles(dest) == [] and "training_args.bin" not in files
    assert _pickles(Path(best.user_attrs["adapter_dir"])) == []
    args = json.loads((dest / "training_arguments.json").read_text())
    assert args["learning_rate"] == pytest.approx(best.user_attrs["learning_rate_used"])
    assert args["gradient_accumulation_steps"] == best.user_attrs["gradient_accumulation_steps"]
    assert args["max_steps"] == MAX_STEPS
    lora = json.loads((dest / "lora_config.json").read_text())
    assert lora["r"] == best.params["lora_r"] and lora["lora_alpha"] == 16
    summary = json.loads((dest / "best_trial.json").read_text())
    assert summary["trial"] == best.number and summary["value"] == best.value
    # loads with peft on the base model, with the trained weights
    _check_lora_weights_loaded(_peft_load(live_study.model, dest), dest)
    # evaluated again on the task's eval set: the recorded metric
    result = evaluate_saved(dest)
    assert result.metric == "eval_loss" and result.num_examples > 0
    assert result.value == pytest.approx(best.value, rel=1e-4, abs=1e-4)
    # a second export into a non-empty folder is refused with one line
    assert main(["best", STUDY, "--export", str(dest)]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_trial_files_through_the_artifact_store_and_the_dashboard(
    finished: optuna.Study,
    live_study: LiveStudy,
    dashboard: Dashboard,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the worker does before its final tell: upload the trial's final folder."""
    from hpsearch.search.outputs import upload_trial_artifacts
    from hpsearch.storage import StudyPaths

    best = finished.best_trial
    root = tmp_path / "ckpt"
    study = optuna.create_study(study_name="uploads", storage=storage_of(finished))
    study.set_user_attr("hpsearch.checkpoint_root", str(root))
    trial = study.ask()
    trial.set_user_attr("adapter_dir", str(tmp_path / "elsewhere" / "adapter"))  # not here
    uploaded = upload_trial_artifacts(
        study,
        trial_id_of(trial),
        best.user_attrs["adapter_dir"],
        StudyPaths(root, "uploads").artifacts_dir,
        strict=True,
    )
    study.tell(trial, best.value)
    names = sorted(a.filename for a in uploaded)
    assert names == ["hpsearch_trial.json", "trial-00000-final.tar.gz"]
    # the dashboard (started for another study) lists and serves them
    detail = dashboard.api(f"/api/studies/{study_id_of(study)}?after=0")
    listed = {a["filename"]: a for a in detail["trials"][0]["artifacts"]}
    assert set(listed) == set(names)
    archive = listed["trial-00000-final.tar.gz"]
    body = dashboard.get(
        f"/artifacts/{study_id_of(study)}/{trial_id_of(trial)}/{archive['artifact_id']}"
    )
    download = tmp_path / "download.tar.gz"
    download.write_bytes(body)
    with tarfile.open(download) as tar:
        assert {"adapter_model.safetensors", "hpsearch_trial.json"} <= set(tar.getnames())
    # best --export falls back to the archive when the final folder is not on this machine
    dest = tmp_path / "from-artifacts"
    assert main(["best", "uploads", "--export", str(dest)]) == 0
    assert "from artifact store" in capsys.readouterr().out
    _check_lora_weights_loaded(_peft_load(live_study.model, dest), dest)


def test_report_is_self_contained_with_the_plots_and_savings(
    finished: optuna.Study, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", STUDY, "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    text = out.read_text()
    page = _parse(text)
    assert page.external == [], page.external  # nothing loaded from the network
    assert page.inline_script_chars > 3_000_000  # plotly.js itself is inlined
    assert set(PLOT_IDS) <= page.ids, page.ids
    assert {"best", "savings"} <= page.ids
    best = finished.best_trial
    assert f"Trial <b>#{best.number}</b>" in text and str(best.params["learning_rate"]) in text
    data = json.loads(page.data)
    savings = data["savings"]
    trials = finished.get_trials(deepcopy=False)
    spent = sum(int(t.user_attrs["last_step"]) for t in trials)
    assert savings["spent"] == spent
    assert savings["if_all_full"] == MAX_STEPS * len(trials)
    assert savings["saved_by_pruning"] == sum(
        MAX_STEPS - int(t.user_attrs["last_step"]) for t in trials if t.state == TrialState.PRUNED
    )
    assert savings["saved_by_pruning"] > 0
    assert f"{1 - spent / (MAX_STEPS * len(trials)):.0%} saved" in text
    assert SECRET not in text


@pytest.mark.browser
def test_report_renders_offline_in_chromium(
    finished: optuna.Study, tmp_path: Path, artifacts_dir: Path
) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report.html"
    assert main(["report", STUDY, "--out", str(out)]) == 0
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
        page = browser.new_page(viewport={"width": 1200, "height": 900})

        def block(route: Any) -> None:
            if not route.request.url.startswith("file://"):
                requested.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        page.route("**/*", block)
        page.goto(out.as_uri())
        for plot_id in PLOT_IDS:
            page.locator(f"#{plot_id} .main-svg").first.wait_for(timeout=30_000)
        drawn = page.locator(".js-plotly-plot").count()
        page.screenshot(path=artifacts_dir / "dashboard" / "report.png", full_page=True)
        browser.close()
    assert drawn == len(PLOT_IDS)
    assert requested == []


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.external: list[str] = []
        self.inline_script_chars = 0
        self.data = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        for name in ("src", "href"):
            link = values.get(name) or ""
            if link.startswith(("http:", "https:", "//")):
                self.external.append(link)
        self._in = "data" if values.get("id") == "hpsearch-data" else tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.inline_script_chars += len(data)
        elif self._in == "data":
            self.data += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page
