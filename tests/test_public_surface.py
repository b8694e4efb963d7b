"""Each package's public surface is deliberate: ``__all__`` is honest, and packages import one
another only through those exports (``diag``'s direct modules count as its surface). Every
module, ``bench`` included, keeps to its layer (``LAYERS``)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("diag", "smtp_sink", "reports", "reset", "maildiag")


def _surfaces() -> list[str]:
    names = ["smtp_sink", "reports", "reset"]
    diag = importlib.import_module("diag")
    for info in pkgutil.iter_modules(diag.__path__):
        if info.ispkg:
            names.append(f"diag.{info.name}")
    return names


@pytest.mark.parametrize("name", _surfaces())
def test_all_is_honest(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"


def _allowed(target: str) -> bool:
    parts = target.split(".")
    if parts[0] == "diag":
        return len(parts) <= 2  # diag.<module or subpackage>, never deeper
    return len(parts) == 1


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_packages_import_each_other_only_through_their_exports() -> None:
    violations = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for lineno, target in _imports(path):
                top = target.split(".")[0]
                if top in PACKAGES and top != package and not _allowed(target):
                    violations.append(f"{path.relative_to(ROOT)}:{lineno} imports {target}")
    assert not violations, "\n".join(violations)


def test_libraries_do_not_import_the_composition_root() -> None:
    for package in ("diag", "smtp_sink", "reports", "reset"):
        for path in (ROOT / package).rglob("*.py"):
            for lineno, target in _imports(path):
                assert target.split(".")[0] != "maildiag", f"{path}:{lineno} imports {target}"


# --- layers ------------------------------------------------------------------------------------
# Lowest first. Each layer holds units, each unit a few module prefixes. A module may import its
# own unit, and any unit of a lower layer: never a higher layer, never a sibling unit of its own
# layer (the web and the CLI are side by side and never use each other).
Unit = tuple[str, ...]
LAYERS: tuple[tuple[Unit, ...], ...] = (
    (("diag",),),
    (("reports",), ("smtp_sink",)),
    (("reset",),),
    (
        (
            "maildiag",  # the package itself: its docstring
            "maildiag.settings",
            "maildiag.db",
            "maildiag.migrations",
            "maildiag.listeners",
            "maildiag.feedback",
            "maildiag.watch",
            "maildiag.scans",
            "maildiag.lab",
            "maildiag.sink",
            "maildiag.outbox",
            "maildiag.jobs",
            "maildiag.facts",
            "maildiag.metrics",
            "maildiag.logs",
        ),
    ),
    (("maildiag.services",),),
    (("maildiag.web",), ("maildiag.commands",)),
    (("maildiag.runtime",),),
    (("maildiag.cli", "maildiag.__main__"),),
    (("bench",),),
)
LAYERED = ("diag", "smtp_sink", "reports", "reset", "maildiag", "bench")


def _unit_of(module: str, layers: tuple[tuple[Unit, ...], ...]) -> tuple[int, Unit] | None:
    """The layer index and unit of ``module``: the unit with the longest prefix naming it."""
    found: tuple[int, Unit] | None = None
    best = -1
    for level, units in enumerate(layers):
        for unit in units:
            for prefix in unit:
                if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                    found, best = (level, unit), len(prefix)
    return found


def layer_violations(
    graph: dict[str, set[str]], layers: tuple[tuple[Unit, ...], ...], tops: tuple[str, ...]
) -> list[str]:
    """Every import in ``graph`` (module -> modules it imports) that breaks the layer rule;
    imports of packages outside ``tops`` (the standard library, third parties) are not ours."""
    problems = []
    for module, targets in sorted(graph.items()):
        home = _unit_of(module, layers)
        if home is None:
            problems.append(f"{module} is in no layer")
            continue
        for target in sorted(targets):
            if target.split(".")[0] not in tops:
                continue
            there = _unit_of(target, layers)
            if there is None:
                problems.append(f"{module} imports {target}, which is in no layer")
            elif there[0] > home[0]:
                problems.append(f"{module} imports {target} from a higher layer")
            elif there[0] == home[0] and there[1] != home[1]:
                problems.append(f"{module} imports {target} beside it in its layer")
    return problems


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(tops: tuple[str, ...]) -> dict[str, set[str]]:
    """Every module under ``tops`` and the modules it imports (``from x import y`` counts as
    ``x.y`` when that is a module, else ``x``), read with ast, type-checking imports too."""
    graph: dict[str, set[str]] = {}
    for top in tops:
        for path in (ROOT / top).rglob("*.py"):
            module = _module_name(path)
            targets: set[str] = set()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    targets.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    base = node.module
                    if node.level:
                        package = (
                            module if path.name == "__init__.py" else module.rpartition(".")[0]
                        )
                        anchor = (
                            package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                        )
                        base = f"{anchor}.{node.module}"
                    targets.update(f"{base}.{alias.name}" for alias in node.names)
            graph[module] = {_existing(t) for t in targets}
    return graph


def _existing(target: str) -> str:
    """``target``, or its package when ``target`` names a name inside a module."""
    parts = target.split(".")
    while len(parts) > 1:
        path = ROOT.joinpath(*parts)
        if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
            break
        parts.pop()
    return ".".join(parts)


def test_every_module_keeps_to_its_layer() -> None:
    graph = import_graph(LAYERED)
    assert "bench.checklist" in graph  # the walk saw bench
    assert "maildiag.web.deps" in graph
    problems = layer_violations(graph, LAYERS, LAYERED)
    assert not problems, "\n".join(problems)


TOY_LAYERS: tuple[tuple[Unit, ...], ...] = ((("lib",),), (("app.web",), ("app.cli",)), (("top",),))


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"lib.a": {"lib.b", "os"}, "app.web.x": {"lib.a"}, "top": {"app.cli"}}, []),
        ({"lib.a": {"app.web.x"}}, ["lib.a imports app.web.x from a higher layer"]),
        ({"app.web.x": {"app.cli.y"}}, ["app.web.x imports app.cli.y beside it in its layer"]),
        ({"app.cli": {"top.run"}}, ["app.cli imports top.run from a higher layer"]),
        ({"stray": set()}, ["stray is in no layer"]),
        ({"lib.a": {"app.other"}}, ["lib.a imports app.other, which is in no layer"]),
    ],
)
def test_the_layer_check_finds_what_breaks_the_rule(
    graph: dict[str, set[str]], expected: list[str]
) -> None:
    assert layer_violations(graph, TOY_LAYERS, ("lib", "app", "top", "stray")) == expected


CHECKLIST_RUNNERS = {"build_checklist", "gather_evidence", "checklist_from_evidence"}


def test_the_product_runs_the_checklist_in_one_place() -> None:
    """Every page, API and command gets its checklist from ``maildiag.services.checklist``."""
    callers = set()
    for path in (ROOT / "maildiag").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.module != "diag.checklist":
                continue
            if CHECKLIST_RUNNERS & {alias.name for alias in node.names}:
                callers.add(_module_name(path))
    assert callers == {"maildiag.services.checklist"}
