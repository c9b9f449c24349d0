"""Faults, with nothing lost: kills, concurrent builds, stray writes, full disks."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import LIGHT, FakeProject, metrics_snippet, subprocess_env, tree_bytes

from dlnotes import manifest, publish
from dlnotes.errors import BuildFailed, DlnotesError

SLOW_SNIPPET = """\
import json, os, pathlib, time
out = pathlib.Path(os.environ["DLNOTES_OUT"])
(pathlib.Path(os.environ["PID_FILE"])).write_text(str(os.getpid()))
(out / "half-written.png").write_bytes(b"not finished")
time.sleep(60)
(out / "metrics.json").write_text(json.dumps({"value": 2}))
"""


def _engine(fake: FakeProject, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dlnotes", "run", "--runner", "plain", *args], cwd=fake.root,
        env=subprocess_env(DLNOTES_THREADS="1", **env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture
def pid_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the slow snippet says who it is (outside the project: that would be a stray)."""
    return tmp_path_factory.mktemp("pids") / "snippet.pid"


def test_killing_the_engine_mid_run_loses_nothing(fake: FakeProject, pid_file: Path) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.build()
    before = tree_bytes(fake.workspace().output_dir("alpha"))
    fake.snippet("alpha", SLOW_SNIPPET)
    engine = _engine(fake, PID_FILE=str(pid_file))
    _wait_for(pid_file)
    engine.send_signal(signal.SIGKILL)
    engine.wait()
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the orphaned snippet, too

    assert tree_bytes(fake.workspace().output_dir("alpha")) == before
    assert manifest.load(fake.workspace().manifest_path)["alpha"].status == "ok"
    fake.snippet("alpha", metrics_snippet("alpha", 3))
    assert fake.build() == {"alpha": "ran: source changed"}
    leftovers = [p.name for p in fake.workspace().root.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_a_second_engine_waits_for_the_first(fake: FakeProject, pid_file: Path) -> None:
    fake.snippet("alpha", SLOW_SNIPPET.replace("time.sleep(60)", "time.sleep(2)"))
    fake.snippet("beta", metrics_snippet("beta"))
    first = _engine(fake, "alpha", PID_FILE=str(pid_file))
    _wait_for(pid_file)
    second = _engine(fake, "beta")
    assert second.wait(timeout=60) == 0 and first.wait(timeout=60) == 0
    assert "another build holds" in second.stderr.read()
    entries = manifest.load(fake.workspace().manifest_path)
    assert {entries["alpha"].status, entries["beta"].status} == {"ok"}


def test_a_snippet_writing_outside_its_folder_is_reported_by_name(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.build()
    before = tree_bytes(fake.workspace().output_dir("alpha"))
    stray = 'pathlib.Path(os.environ["DLNOTES_OUT"], "../../stray.png").write_bytes(b"x")\n'
    fake.snippet("alpha", metrics_snippet("alpha", 2) + stray)
    with pytest.raises(BuildFailed,
                       match=r"'alpha'.*wrote outside its output folder: docs/stray.png"):
        fake.build()
    assert tree_bytes(fake.workspace().output_dir("alpha")) == before


def test_a_full_disk_while_publishing_is_one_line_and_keeps_outputs(
        fake: FakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.build()
    before = tree_bytes(fake.workspace().output_dir("alpha"))

    def disk_full(staging: Path, final: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(publish, "replace", disk_full)
    fake.snippet("alpha", metrics_snippet("alpha", 2))
    with pytest.raises(DlnotesError) as error:
        fake.build()
    assert "\n" not in str(error.value)
    assert str(error.value).startswith("cannot publish outputs of 'alpha'")
    assert "No space left on device; previous outputs kept" in str(error.value)
    assert tree_bytes(fake.workspace().output_dir("alpha")) == before


def test_a_full_disk_inside_the_snippet_fails_it_and_keeps_outputs(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.build()
    before = tree_bytes(fake.workspace().output_dir("alpha"))
    fake.snippet("alpha", "raise OSError(28, 'No space left on device')\n")
    with pytest.raises(BuildFailed, match="No space left on device"):
        fake.build()
    assert tree_bytes(fake.workspace().output_dir("alpha")) == before
    assert json.loads((fake.workspace().output_dir("alpha") / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.reuse("code")
def test_two_site_builds_started_together_both_finish_one_after_the_other(
        fake: FakeProject, pid_file: Path) -> None:
    """MkDocs empties the site folder at the start of a build: a second build into the same
    folder must wait for the first, not delete its files under it (or die trying)."""
    fake.snippet("alpha", SLOW_SNIPPET.replace("time.sleep(60)", "time.sleep(3)")
                 .replace('{"value": 2}', '{"value": 2, "quick": False}'))
    fake.page("index.md", "# Home\n\n![a figure](generated/alpha/half-written.png)\n")
    site = fake.root / "site"

    def build() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
            cwd=fake.root, env=subprocess_env(PID_FILE=str(pid_file), **LIGHT),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = build()
    _wait_for(pid_file)  # the first build holds the site and runs the snippet
    second = build()
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert "another build is writing" in outputs[1][1]
    assert "Traceback" not in outputs[0][1] + outputs[1][1]
    assert (site / "index.html").is_file()
    assert (site / "generated" / "alpha" / "half-written.png").is_file()
