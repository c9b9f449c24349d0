"""Beyond one machine: shards split the runs exactly once; merged shards equal one run."""

from __future__ import annotations

import pytest
from conftest import FakeProject, metrics_snippet, tree_bytes

from dlnotes import cli, engine, manifest, shards
from dlnotes.errors import DlnotesError
from dlnotes.manifest import Entry
from dlnotes.project import FULL, Workspace


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_every_snippet_lands_in_exactly_one_shard(count: int) -> None:
    names = [f"s{i}" for i in range(7)]
    runtimes = {f"s{i}": Entry("ok", runtime_s=float(i * 10)) for i in range(6)}  # s6 never ran
    split = shards.assign(names, runtimes, count)
    assert len(split) == count
    assert sorted(n for shard in split for n in shard) == sorted(names)


def test_shards_are_balanced_by_recorded_runtimes() -> None:
    runtimes = {"big": Entry("ok", runtime_s=50.0), "a": Entry("ok", runtime_s=20.0),
                "b": Entry("ok", runtime_s=20.0), "c": Entry("ok", runtime_s=10.0)}
    assert shards.assign(list(runtimes), runtimes, 2) == [["big"], ["a", "b", "c"]]


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_a_bad_shard_is_a_one_line_error(text: str) -> None:
    with pytest.raises(DlnotesError, match="--shard takes I/N"):
        shards.parse(text)


def test_merged_shards_give_the_same_outputs_and_report_as_one_run(fake: FakeProject,
                                                                   tmp_path) -> None:
    for i in range(4):
        fake.snippet(f"s{i}", metrics_snippet(f"s{i}", i))
    names = sorted(fake.project.snippets())
    one_run = Workspace(FULL, tmp_path / "one")
    engine.build(fake.project, one_run, fast=False, log=lambda _: None)

    split = shards.assign(names, {}, 2)
    shard_roots = []
    for index, part in enumerate(split):
        workspace = Workspace(FULL, tmp_path / f"shard{index}")
        engine.build(fake.project, workspace, part, fast=False, log=lambda _: None)
        shard_roots.append(workspace.root)
    merged = Workspace(FULL, tmp_path / "merged")
    assert shards.merge(merged, shard_roots) == names

    for name in names:
        assert tree_bytes(merged.output_dir(name)) == tree_bytes(one_run.output_dir(name))
    keys_once = {n: e.key for n, e in manifest.load(one_run.manifest_path).items()}
    keys_merged = {n: e.key for n, e in manifest.load(merged.manifest_path).items()}
    assert keys_merged == keys_once
    after = engine.build(fake.project, merged, fast=False, log=lambda _: None)
    assert [o.status for o in after] == ["cached"] * len(names), "nothing is stale after merging"


def test_cli_runs_one_shard_and_merges(fake: FakeProject, capsys, tmp_path, monkeypatch) -> None:
    for i in range(3):
        fake.snippet(f"s{i}", metrics_snippet(f"s{i}", i))
    monkeypatch.setenv("DLNOTES_QUICK_DIR", str(tmp_path / "elsewhere"))
    assert cli.main(["run", "--quick", "--runner", "plain", "--shard", "1/2"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("dlnotes: shard 1/2: ")
    assert cli.main(["merge", str(tmp_path / "elsewhere" / "generated")]) == 0
    merged = capsys.readouterr().out
    assert merged.startswith("dlnotes: merged ") and first.split(": ")[-1] in merged
