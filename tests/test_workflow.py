"""The publish workflow: valid YAML that runs the README's commands with the least permissions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "publish.yml"


def _workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_it_publishes_on_push_to_main() -> None:
    assert _workflow()["on"]["push"]["branches"] == ["main"]


def test_the_build_runs_the_readme_commands_after_restoring_the_outputs() -> None:
    steps = _workflow()["jobs"]["build"]["steps"]
    runs = [step.get("run", "") for step in steps]
    assert "make test" in runs and "make site" in runs
    assert runs.index("make test") < runs.index("make site")
    cache = next(step for step in steps if str(step.get("uses", "")).startswith("actions/cache"))
    assert cache["with"]["path"] == "docs/generated"
    assert steps.index(cache) < runs.index("make site")
    assert any("download.pytorch.org/whl/cpu" in run for run in runs), "CPU-only torch"
    readme = (ROOT / "README.md").read_text()
    assert "`make test`" in readme and "`make site`" in readme


def test_it_asks_for_the_least_permissions() -> None:
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read"}
    assert "permissions" not in workflow["jobs"]["build"]
    assert "permissions" not in workflow["jobs"]["snippets"]
    assert workflow["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    deploy_steps = workflow["jobs"]["deploy"]["steps"]
    assert [s["uses"].split("@")[0] for s in deploy_steps] == ["actions/deploy-pages"]


def test_snippets_run_in_shards_that_the_build_merges() -> None:
    workflow = _workflow()
    snippets = workflow["jobs"]["snippets"]
    shard_count = int(workflow["env"]["SHARDS"])
    assert snippets["strategy"]["matrix"]["shard"] == list(range(1, shard_count + 1))
    runs = " ".join(step.get("run", "") for step in snippets["steps"])
    assert "dlnotes run --shard ${{ matrix.shard }}/$SHARDS" in runs
    upload = next(s for s in snippets["steps"] if "upload-artifact" in str(s.get("uses")))
    assert upload["with"]["include-hidden-files"] is True, "the manifest must travel too"
    build = workflow["jobs"]["build"]
    assert build["needs"] == "snippets"
    build_runs = [step.get("run", "") for step in build["steps"]]
    merge = next(i for i, run in enumerate(build_runs) if "dlnotes merge shards/*" in run)
    assert merge < build_runs.index("make site")


def test_zizmor_finds_nothing_to_fix_in_the_workflows() -> None:
    """Actions pinned by commit, no credentials left in checkouts, no template injection."""
    zizmor = Path(sys.executable).with_name("zizmor")
    done = subprocess.run([str(zizmor), "--offline", str(WORKFLOW.parent)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
