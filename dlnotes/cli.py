"""`python -m dlnotes run|list|clean`: the engine from the command line.

Errors in the input (an unknown snippet, an unwritable folder, a bad directive) print one line
and exit 2; failed snippets print their report and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from dlnotes import contract, engine, manifest, scaffold, shards
from dlnotes.errors import BuildFailed, DlnotesError
from dlnotes.project import Workspace, find_project


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        contract.check_environment()
        project = find_project()
        workspace = Workspace.for_mode(project, args.quick)
        return args.command(project, workspace, args)
    except BuildFailed as failed:
        print(f"dlnotes: {failed}", file=sys.stderr)
        return 1
    except DlnotesError as err:
        print(f"dlnotes: {err}", file=sys.stderr)
        return 2


def _run(project, workspace, args) -> int:
    names = args.names
    if args.shard:
        index, count = shards.parse(args.shard)
        everything = [s.name for s in engine.load_snippets(project, names)]
        names = shards.assign(everything, manifest.load(workspace.manifest_path), count)[index - 1]
        print(f"dlnotes: shard {index}/{count}: {', '.join(names) or 'nothing'}")
        if not names:
            return 0
    print(f"dlnotes: {workspace.mode} mode, outputs in {workspace.root}")
    runner = args.runner or contract.runner()
    engine.build(project, workspace, names, force=args.force, jobs=args.jobs,
                 fast=runner == "fast")
    return 0


def _merge(project, workspace, args) -> int:
    merged = shards.merge(workspace, [Path(source) for source in args.sources])
    print(f"dlnotes: merged {', '.join(merged) or 'nothing'} into {workspace.root}")
    return 0


def _list(project, workspace, args) -> int:
    print(f"{'snippet':<28} {'state':<34} {'last run':<24} runtime  pages")
    for snippet, reason, entry in engine.status(project, workspace):
        state = f"stale: {reason}" if reason else "up to date"
        runtime = "-" if entry is None or entry.runtime_s is None else f"{entry.runtime_s:.1f} s"
        ran_at = (entry and entry.ran_at) or "-"
        pages = ", ".join(project.pages_embedding(snippet.name)) or "-"
        print(f"{snippet.name:<28} {state:<34} {ran_at:<24} {runtime:>7}  {pages}")
    return 0


def _clean(project, workspace, args) -> int:
    removed = engine.clean(project, workspace, args.names)
    print(f"dlnotes: removed {workspace.mode}-mode outputs of {', '.join(removed) or 'nothing'}")
    return 0


def _new(project, workspace, args) -> int:
    for path in scaffold.new(project, args.name, args.page):
        print(f"dlnotes: wrote {path.relative_to(project.root)}")
    print(f"dlnotes: add '{args.page}' to nav in mkdocs.yml, then run make serve")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    """`--jobs 0` or `--jobs -2` would reach the thread pool as a ValueError: refuse it here."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dlnotes", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for name, handler, text in (
        ("run", _run, "run the stale snippets (or the named ones) and record them"),
        ("list", _list, "show every snippet, whether it is stale and why, and its pages"),
        ("clean", _clean, "remove outputs and manifest entries"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(command=handler)
        sub.add_argument("--quick", action="store_true",
                         help="quick mode (small data, few epochs) in its own output folder")
        if name in ("run", "clean"):
            sub.add_argument("names", nargs="*", metavar="NAME", help="snippets to select")
        if name == "run":
            sub.add_argument("--force", action="store_true", help="run even if up to date")
            sub.add_argument("--jobs", type=_positive_int, default=None,
                             help="snippets at once (default: measured for this machine)")
            sub.add_argument("--shard", metavar="I/N",
                             help="run only the I-th of N shards, balanced by recorded runtimes")
            sub.add_argument("--runner", choices=contract.RUNNERS, default=None,
                             help="fast: fork each snippet from a worker that preloaded the heavy"
                                  " packages (default); plain: a new Python process each;"
                                  f" default from {contract.RUNNER_ENV}")
    sub = commands.add_parser("merge", help="merge the outputs of shards run elsewhere")
    sub.set_defaults(command=_merge)
    sub.add_argument("--quick", action="store_true", help="merge into the quick-mode outputs")
    sub.add_argument("sources", nargs="+", metavar="DIR",
                     help="a shard's generated/ folder (or the folder holding it)")
    sub = commands.add_parser("new", help="scaffold a snippet and a page that shows it")
    sub.set_defaults(command=_new, quick=False)
    sub.add_argument("name", help="snippet name: lower-case letters, digits, underscores")
    sub.add_argument("--page", required=True, help="page to create, relative to docs/")
    return parser
