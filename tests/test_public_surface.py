"""Each package's public surface is deliberate: ``__all__`` is honest, and packages import one
another only through those exports (``diag``'s direct modules count as its surface)."""

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
