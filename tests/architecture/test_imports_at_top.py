"""No function-level import in app code, except one that breaks a real import cycle and says which.

A module's dependencies are its imports at the top, where the import contracts and a reader see them. An import
inside a function is allowed only to break a cycle that exists (e.g. tasks import services, which queue the tasks),
with a comment on the import line or the line above: ``# cycle: services import tasks, which import services``.
AppConfig.ready is where Django wants late imports (signal receivers), so it is exempt.
"""

from __future__ import annotations

import ast
import re

import pytest

from tests.architecture.codebase import APPS, Source, app_sources, parents

CYCLE_COMMENT = re.compile(r"#\s*cycle:\s*\S")


def _enclosing_function(node: ast.AST, up: dict[ast.AST, ast.AST]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    while node in up:
        node = up[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return node
    return None


def _in_app_config_ready(node: ast.AST, up: dict[ast.AST, ast.AST]) -> bool:
    while node in up:
        node = up[node]
        if isinstance(node, ast.FunctionDef) and node.name == "ready":
            owner = up.get(node)
            if isinstance(owner, ast.ClassDef) and any(
                (isinstance(b, ast.Name) and b.id == "AppConfig") or (isinstance(b, ast.Attribute) and b.attr == "AppConfig")
                for b in owner.bases
            ):
                return True
    return False


def _says_which_cycle(source: Source, node: ast.stmt) -> bool:
    first = node.lineno - 1
    last = (node.end_lineno or node.lineno) - 1
    lines = source.lines[max(0, first - 1): last + 1]  # the line above, and every line of the statement
    return any(CYCLE_COMMENT.search(line) for line in lines)


def unexplained_late_imports(source: Source) -> list[str]:
    up = parents(source.tree)
    found = []
    for node in ast.walk(source.tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        function = _enclosing_function(node, up)
        if function is None or _in_app_config_ready(node, up) or _says_which_cycle(source, node):
            continue
        text = source.lines[node.lineno - 1].strip()
        found.append(f"{source.where(node)}: in {function.name}(): {text}")
    return found


@pytest.mark.parametrize("app", APPS)
def test_imports_are_at_the_top_unless_they_break_a_named_cycle(app):
    found = [line for source in app_sources(app) for line in unexplained_late_imports(source)]
    assert not found, "function-level imports without a '# cycle: …' comment:\n" + "\n".join(found)
