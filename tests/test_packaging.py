"""What the package promises its installers: every import declared, typed, one version.

A module imported by the collector but installed only because another dependency happens to
pull it in breaks the day that dependency stops doing so; these checks read the source and
pyproject.toml, so they fail as soon as an undeclared import or a second version appears.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from ci_collector import __version__
from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "ci_collector"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _top_level_imports() -> dict[str, str]:
    """Third-party top-level modules the package imports, each with one file importing it."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "ci_collector":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_distribution_is_a_declared_dependency() -> None:
    declared = {
        _normalise(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0])
        for spec in PYPROJECT["project"]["dependencies"]
    }
    providers = packages_distributions()
    imports = _top_level_imports()
    assert {"httpx", "requests", "urllib3"} <= imports.keys()  # the scan sees them
    undeclared = {
        module: where
        for module, where in imports.items()
        if not declared & {_normalise(dist) for dist in providers.get(module, [module])}
    }
    assert undeclared == {}, f"imported but not in [project].dependencies: {undeclared}"


def test_the_package_ships_its_type_information() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_the_version_is_defined_once() -> None:
    """pyproject.toml takes it from `ci_collector.__version__` instead of repeating it."""
    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    source = PYPROJECT["tool"]["hatch"]["version"]["path"]
    assert f'__version__ = "{__version__}"' in (ROOT / source).read_text(encoding="utf-8")


def test_requires_python_is_a_version_the_code_runs_on() -> None:
    """`typing.NotRequired` (3.11) is imported, so 3.10 cannot be promised."""
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert minimum is not None
    assert (int(minimum[1]), int(minimum[2])) >= (3, 11)
    assert sys.version_info >= (int(minimum[1]), int(minimum[2]))
