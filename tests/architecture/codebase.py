"""The app code as syntax trees, for the architecture tests: which modules exist, what each file imports and where.

App code is every module of the apps (``APPS``) but their migrations, which are frozen history.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("invoicing", "issuing", "delivery", "api", "sandbox", "receiving", "deduction")
PROJECT_PACKAGES = (*APPS, "tests", "bench")
"""Every top-level package of ours: an import of one of them is a project import, whatever the importing module."""


@dataclass(frozen=True)
class Source:
    path: Path
    module: str  # dotted name: issuing.platform.services
    is_package: bool  # an __init__.py
    tree: ast.Module
    lines: tuple[str, ...]

    @property
    def package(self) -> str:
        """The package a relative import starts from."""
        return self.module if self.is_package else self.module.rpartition(".")[0]

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{node.lineno}"


def is_private(name: str) -> bool:
    """``_name`` is private; ``__name__`` (a dunder) is not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a module or package of the project's apps (migrations included)."""
    parts = dotted.split(".")
    if parts[0] not in APPS:
        return False
    base = ROOT.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def app_sources(app: str) -> Iterator[Source]:
    for path in sorted((ROOT / app).rglob("*.py")):
        relative = path.relative_to(ROOT)
        if "migrations" in relative.parts:
            continue
        parts = list(relative.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        text = path.read_text(encoding="utf-8")
        yield Source(path=path, module=".".join(parts), is_package=is_package,
                     tree=ast.parse(text, filename=str(path)), lines=tuple(text.splitlines()))


def imported_module(source: Source, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from … import`` reads from."""
    if not node.level:
        return node.module or ""
    base = source.package.split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
