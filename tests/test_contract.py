"""The snippet contract has one source, `dlnotes/contract.py`, and everything else agrees with it:
the packages a snippet imports are declared, keyed and documented; the build reads its settings
by the contract's names."""

from __future__ import annotations

import ast
import re
import sys

import jupytext
import pytest
from conftest import PROJECT, ROOT

from dlnotes import cachekey, contract

IMPORTABLE = {name for names in contract.PACKAGES.values() for name in names}


def _imports(source: str) -> set[str]:
    """Top-level modules a piece of Python imports (relative imports excluded)."""
    tree = ast.parse(source)
    found = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    return found | {node.module.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module and not node.level}


def _example_source(path) -> str:
    notebook = jupytext.read(path)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code"
                     and not cell.source.lstrip().startswith(("%", "!")))


@pytest.mark.parametrize("path", [*PROJECT.snippets().values(), *PROJECT.examples().values()],
                         ids=lambda path: path.name)
def test_a_snippet_imports_only_the_standard_library_and_declared_packages(path) -> None:
    source = path.read_text() if path.suffix == ".py" else _example_source(path)
    kernel = {"IPython"} if path.suffix == ".ipynb" else set()  # every Jupyter kernel has it
    undeclared = _imports(source) - set(sys.stdlib_module_names) - IMPORTABLE - kernel
    assert not undeclared, (f"{path.name} imports {sorted(undeclared)}: add the package to "
                            "dlnotes/contract.py PACKAGES and to pyproject.toml, or drop it")


def test_pyproject_declares_every_contract_package() -> None:
    text = (ROOT / "pyproject.toml").read_text()  # (tomllib is Python 3.11+, we support 3.10)
    dependencies = text.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    names = {name.lower() for name in re.findall(r'^\s*"([\w.-]+)', dependencies, re.M)}
    assert set(contract.PACKAGES) <= names


def test_every_contract_package_is_part_of_the_cache_key() -> None:
    assert set(cachekey.environment()) == {"python", *contract.PACKAGES, *contract.DATA_PACKAGES}


def test_setup_installs_each_data_package_at_its_pin_without_its_dependencies() -> None:
    """Their metadata pins an old torch: installed with its dependencies, one would downgrade
    torch for every snippet."""
    makefile = (ROOT / "Makefile").read_text()
    for name, version in contract.DATA_PACKAGES.items():
        assert re.search(rf"pip install [^\n]*--no-deps [^\n]*{name}=={version}", makefile), name


def test_the_readme_table_lists_exactly_the_contract_packages() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- contract-packages -->")[1]
    rows = re.findall(r"^\| `([\w-]+)` \| `([\w, `]+)` \|", table, re.M)
    assert {dist: tuple(re.findall(r"\w+", imports)) for dist, imports in rows} == \
        contract.PACKAGES


def test_the_build_reads_its_settings_only_through_the_contract() -> None:
    """A DLNOTES_ name spelled out anywhere else in the engine would be a second contract.
    (The scaffold's template is a snippet, which must spell them out: readers copy it.)"""
    spelled = re.compile(r"[\"']DLNOTES_[A-Z_]+[\"']")
    offenders = [path.name for path in sorted((ROOT / "dlnotes").glob("*.py"))
                 if path.name not in ("contract.py", "scaffold.py")
                 and spelled.search(path.read_text())]
    assert offenders == []
