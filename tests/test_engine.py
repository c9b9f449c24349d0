"""The build engine: what re-runs and why, and how failures keep the last good outputs."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest
from conftest import LIGHT, FakeProject, metrics_snippet, mkdocs_build, tree_bytes

from dlnotes import cachekey, cli, engine, manifest
from dlnotes.errors import BuildFailed, DlnotesError


def test_a_new_snippet_runs_and_then_is_cached(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    assert fake.build() == {"alpha": "ran: new"}
    assert fake.build() == {"alpha": "cached"}
    assert json.loads((fake.workspace().output_dir("alpha") / "metrics.json").read_text()) == {
        "value": 1, "quick": False}


def test_editing_the_source_reruns_only_that_snippet(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.snippet("beta", metrics_snippet("beta"))
    fake.build()
    fake.snippet("beta", metrics_snippet("beta", value=2))
    assert fake.build() == {"alpha": "cached", "beta": "ran: source changed"}


def test_a_changed_data_file_reruns_the_snippet_that_declares_it(fake: FakeProject) -> None:
    (fake.root / "prices.csv").write_text("a,b\n1,2\n")
    fake.snippet("alpha", "# dlnotes: data prices.csv\n" + metrics_snippet("alpha"))
    fake.build()
    assert fake.build() == {"alpha": "cached"}
    (fake.root / "prices.csv").write_text("a,b\n1,3\n")
    assert fake.build() == {"alpha": "ran: data changed"}


def test_a_file_used_if_present_reruns_when_it_appears_changes_or_goes(
        fake: FakeProject, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path_factory.mktemp("torch-home")
    monkeypatch.setenv("WEIGHTS_HOME", str(cache))
    fake.snippet("alpha", "# dlnotes: data-if-present $WEIGHTS_HOME/w.pth ~/no/such.pth\n"
                 + metrics_snippet("alpha"))
    assert fake.build() == {"alpha": "ran: new"}
    assert fake.build() == {"alpha": "cached"}
    (cache / "w.pth").write_bytes(b"weights")
    assert fake.build() == {"alpha": "ran: data changed"}
    assert fake.build() == {"alpha": "cached"}
    (cache / "w.pth").write_bytes(b"other weights")
    assert fake.build() == {"alpha": "ran: data changed"}
    (cache / "w.pth").unlink()
    assert fake.build() == {"alpha": "ran: data changed"}


def test_a_new_package_version_reruns(fake: FakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.build()
    newer = {**cachekey.environment(), "torch": "99.0"}
    monkeypatch.setattr(cachekey, "environment", lambda: newer)
    assert fake.build() == {"alpha": "ran: packages changed"}


def test_quick_and_full_mode_keep_separate_outputs_and_caches(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.build()
    full_outputs = tree_bytes(fake.workspace().root)
    assert fake.build(quick=True) == {"alpha": "ran: new"}
    assert fake.workspace(quick=True).root != fake.workspace().root
    assert tree_bytes(fake.workspace().root) == full_outputs
    assert fake.build() == {"alpha": "cached"}, "a quick run must not invalidate full mode"
    quick_metrics = fake.workspace(quick=True).output_dir("alpha") / "metrics.json"
    assert json.loads(quick_metrics.read_text())["quick"] is True


def test_force_and_names_select_what_runs(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.snippet("beta", metrics_snippet("beta"))
    fake.build()
    assert fake.build("beta", force=True) == {"beta": "ran: forced"}


@pytest.mark.parametrize("damage", ["corrupt", "missing", "wrong format"])
def test_a_damaged_manifest_means_a_rerun_not_a_crash(fake: FakeProject, damage: str) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.build()
    path = fake.workspace().manifest_path
    if damage == "corrupt":
        path.write_text('{"format": 1, "snippets": {"alpha": ')
    elif damage == "missing":
        path.unlink()
    else:
        path.write_text("[1, 2, 3]")
    assert fake.build() == {"alpha": "ran: new"}
    assert manifest.load(path)["alpha"].status == "ok"


def test_the_manifest_records_key_reason_runtime_and_outputs(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.build()
    entry = manifest.load(fake.workspace().manifest_path)["alpha"]
    assert entry.status == "ok" and entry.reason == "new"
    assert entry.outputs == ("metrics.json", "table.md")
    assert entry.runtime_s >= 0 and entry.ran_at.endswith("UTC")
    assert entry.key == cachekey.key(entry.inputs)
    assert entry.inputs["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))


def test_a_failing_snippet_keeps_its_previous_outputs_byte_identical(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.page("alpha.md", "![plot](generated/alpha/table.md)\n")
    fake.build()
    before = tree_bytes(fake.workspace().output_dir("alpha"))
    fake.snippet("alpha", "print('about to fail')\nraise ZeroDivisionError('nobody expects it')\n")
    with pytest.raises(BuildFailed) as failed:
        fake.build()
    message = str(failed.value)
    assert "snippet 'alpha' (snippets/alpha.py) failed: exit code 1" in message
    assert "embedded by: docs/alpha.md" in message
    assert "ZeroDivisionError: nobody expects it" in message
    assert tree_bytes(fake.workspace().output_dir("alpha")) == before
    fake.snippet("alpha", metrics_snippet("alpha"))
    assert fake.build() == {"alpha": "ran: previous run failed"}


def test_a_syntax_error_is_reported_with_its_last_lines(fake: FakeProject) -> None:
    fake.snippet("broken", "def oops(:\n    pass\n")
    with pytest.raises(BuildFailed, match=r"(?s)'broken'.*SyntaxError"):
        fake.build()
    assert not fake.workspace().output_dir("broken").exists()


def test_a_snippet_past_its_timeout_is_killed_and_reported(fake: FakeProject) -> None:
    fake.snippet("sleepy", "# dlnotes: timeout 1\nimport time\ntime.sleep(60)\n")
    with pytest.raises(BuildFailed, match="'sleepy'.*timed out after 1 s and was killed"):
        fake.build()


def test_a_snippet_that_writes_a_promised_file_not_is_reported(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.page("alpha.md", "![curve](generated/alpha/curve.png)\n")
    with pytest.raises(BuildFailed, match=r"did not write curve.png \(shown by docs/alpha.md\)"):
        fake.build()


def test_a_snippet_without_metrics_is_reported(fake: FakeProject) -> None:
    fake.snippet("quiet", "print('hello')\n")
    with pytest.raises(BuildFailed, match="'quiet'.*did not write metrics.json"):
        fake.build()


def test_a_result_outside_its_declared_bounds_fails_the_run(fake: FakeProject) -> None:
    fake.snippet("alpha", "# dlnotes: expect full value >= 5\n" + metrics_snippet("alpha", 3))
    with pytest.raises(BuildFailed, match=r"full mode: value = 3, expected value >= 5"):
        fake.build()
    fake.snippet("alpha", "# dlnotes: expect quick value >= 5\n" + metrics_snippet("alpha", 3))
    assert fake.build() == {"alpha": "ran: previous run failed"}, "quick bounds do not apply"


def test_a_malformed_directive_is_a_one_line_error(fake: FakeProject) -> None:
    fake.snippet("alpha", "# dlnotes: expect full value about 5\n")
    with pytest.raises(DlnotesError, match=r"^snippets/alpha.py:1: expected 'expect full\|quick"):
        fake.build()


def test_an_interrupted_publish_is_undone_on_the_next_run(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.build()
    outputs = fake.workspace().output_dir("alpha")
    before = tree_bytes(outputs)
    # What a kill between the two renames of a publish leaves behind:
    outputs.rename(outputs.with_name(".old-alpha-12345"))
    (outputs.parent / ".tmp-alpha-12345-1").mkdir()
    assert fake.build() == {"alpha": "cached"}
    assert tree_bytes(outputs) == before
    assert sorted(p.name for p in outputs.parent.iterdir()) == [".lock", ".manifest.json", "alpha"]


def test_the_longest_runs_start_first_and_never_run_ones_before_all(fake: FakeProject) -> None:
    for name in ("alpha", "beta", "gamma"):
        fake.snippet(name, metrics_snippet(name))
    fake.build()
    path = fake.workspace().manifest_path
    entries = manifest.load(path)
    for name, seconds in (("alpha", 1.0), ("beta", 5.0), ("gamma", 3.0)):
        entries[name] = dataclasses.replace(entries[name], runtime_s=seconds)
    manifest.save(path, entries)
    fake.snippet("delta", metrics_snippet("delta"))
    order: list[str] = []
    engine.build(fake.project, fake.workspace(), force=True, jobs=1, fast=False,
                 log=lambda line: order.append(line.split("]")[0].lstrip("[")))
    assert order == ["delta", "beta", "gamma", "alpha"]


def test_clean_removes_outputs_and_entries(fake: FakeProject) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.build()
    assert engine.clean(fake.project, fake.workspace()) == ["alpha"]
    assert not fake.workspace().output_dir("alpha").exists()
    assert fake.build() == {"alpha": "ran: new"}


def test_cli_rejects_an_unknown_name_in_one_line(fake: FakeProject, capsys) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.snippet("beta", metrics_snippet("beta"))
    assert cli.main(["run", "gamma"]) == 2
    err = capsys.readouterr().err
    assert err == "dlnotes: unknown snippet gamma; known: alpha, beta\n"


def test_cli_reports_an_unwritable_output_folder_in_one_line(fake: FakeProject, capsys,
                                                             monkeypatch) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    blocker = fake.root / "not-a-folder"
    blocker.write_text("a file where the quick outputs should go")
    monkeypatch.setenv("DLNOTES_QUICK_DIR", str(blocker))
    assert cli.main(["run", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlnotes: cannot create output folder") and err.count("\n") == 1


def test_cli_run_list_and_a_failure_exit_code(fake: FakeProject, capsys) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    assert cli.main(["run"]) == 0
    assert "[alpha] ran in" in capsys.readouterr().out
    assert cli.main(["list"]) == 0
    assert "up to date" in capsys.readouterr().out
    fake.snippet("alpha", "raise SystemExit('no data')\n")
    assert cli.main(["list"]) == 0
    assert "stale: source changed" in capsys.readouterr().out
    assert cli.main(["run"]) == 1
    assert "no data" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.reuse("code")
def test_new_scaffolds_a_snippet_and_page_that_pass_unchanged(fake: FakeProject, tmp_path,
                                                             capsys) -> None:
    assert cli.main(["new", "line_fit", "--page", "topics/line-fit.md"]) == 0
    assert "add 'topics/line-fit.md' to nav" in capsys.readouterr().out
    assert fake.build("line_fit", quick=True) == {"line_fit": "ran: new"}  # quick bounds hold
    assert fake.build("line_fit") == {"line_fit": "ran: new"}  # and the full ones
    page = (fake.root / "docs" / "topics" / "line-fit.md").read_text()
    assert '--8<-- "snippets/line_fit.py:train"' in page and "{{ line_fit.final_loss:.4f }}" in page
    done = mkdocs_build(fake.root, tmp_path / "site", **LIGHT)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(("args", "error"), [
    (["new", "alpha", "--page", "x.md"], "snippet 'alpha' already exists"),
    (["new", "Bad-Name", "--page", "x.md"], "invalid snippet name 'Bad-Name'"),
    (["new", "class", "--page", "x.md"], "invalid snippet name 'class'"),
    (["new", "beta", "--page", "../outside.md"], "invalid page '../outside.md'"),
    (["new", "beta", "--page", "alpha.md"], "page docs/alpha.md already exists"),
])
def test_new_refuses_in_one_line(fake: FakeProject, capsys, args: list[str], error: str) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    fake.page("alpha.md", "# Alpha\n")
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dlnotes: {error}") and err.count("\n") == 1
    assert not (fake.root / "snippets" / "beta.py").exists()


@pytest.mark.parametrize(("args", "env", "error"), [
    (["run", "--jobs", "-2"], {}, "argument --jobs: expected a whole number >= 1, got -2"),
    (["run", "--jobs", "0"], {}, "argument --jobs: expected a whole number >= 1, got 0"),
    (["run", "--jobs", "two"], {}, "argument --jobs: expected a whole number >= 1, got 'two'"),
    (["run", "--runner", "turbo"], {}, "argument --runner: invalid choice: 'turbo'"),
    (["run", "--shard", "4/3"], {}, "--shard takes I/N with 1 <= I <= N, got '4/3'"),
    (["run", "--no-such-option"], {}, "unrecognized arguments: --no-such-option"),
    (["list", "alpha"], {}, "unrecognized arguments: alpha"),
    (["merge"], {}, "the following arguments are required: DIR"),
    ([], {}, "the following arguments are required: COMMAND"),
    (["run"], {"DLNOTES_RUNNER": "turbo"}, "DLNOTES_RUNNER must be one of fast, plain"),
    (["run"], {"DLNOTES_THREADS": "-1"}, "DLNOTES_THREADS must be a whole number >= 1"),
])
def test_every_bad_option_is_one_line_and_exit_status_2(
        fake: FakeProject, capsys, monkeypatch: pytest.MonkeyPatch,
        args: list[str], env: dict[str, str], error: str) -> None:
    fake.snippet("alpha", metrics_snippet("alpha"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        status = cli.main(args)
    except SystemExit as stop:  # argparse's refusals end the process
        status = stop.code
    assert status == 2
    err = capsys.readouterr().err
    assert error in err and err.count("\n") == 1, err
    assert "Traceback" not in err and not fake.workspace().root.exists()
