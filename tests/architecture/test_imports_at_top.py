"""No function-level import in app code, except one that breaks a real import cycle, or loads a heavy library on
demand, and says so.

A module's dependencies are its imports at the top, where the import contracts and a reader see them. An import
inside a function is allowed only

- to break a cycle that exists (e.g. tasks import services, which queue the tasks), with a comment on the import line
  or the line above: ``# cycle: services import tasks, which import services``;
- to load a heavy third-party library only in the processes that use it (WeasyPrint costs about a second and 50 MB
  at import; web and worker processes that never render a PDF should not pay that), with
  ``# lazy: <why>``. A project module is never lazy (its cost is ours to fix, and a late import of it hides a
  dependency from the contracts), nor is the standard library (cheap to import).

AppConfig.ready is where Django wants late imports (signal receivers), so it is exempt.
"""

from __future__ import annotations

import ast
import re
import sys

import pytest

from tests.architecture.codebase import APPS, PROJECT_PACKAGES, Source, app_sources, parents

CYCLE_COMMENT = re.compile(r"#\s*cycle:\s*\S")
LAZY_COMMENT = re.compile(r"#\s*lazy:\s*\S")


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


def _is_commented(source: Source, node: ast.stmt, comment: re.Pattern[str]) -> bool:
    first = node.lineno - 1
    last = (node.end_lineno or node.lineno) - 1
    lines = source.lines[max(0, first - 1): last + 1]  # the line above, and every line of the statement
    return any(comment.search(line) for line in lines)


def _imports_third_party_only(node: ast.Import | ast.ImportFrom) -> bool:
    """Whether every module the statement imports is a third-party library: not ours, not the standard library."""
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: a module of ours
            return False
        names = [node.module or ""]
    else:
        names = [alias.name for alias in node.names]
    tops = {name.split(".")[0] for name in names}
    return all(top and top not in PROJECT_PACKAGES and top not in sys.stdlib_module_names for top in tops)


def _is_explained(source: Source, node: ast.Import | ast.ImportFrom) -> bool:
    return _is_commented(source, node, CYCLE_COMMENT) or (
        _is_commented(source, node, LAZY_COMMENT) and _imports_third_party_only(node))


def unexplained_late_imports(source: Source) -> list[str]:
    up = parents(source.tree)
    found = []
    for node in ast.walk(source.tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        function = _enclosing_function(node, up)
        if function is None or _in_app_config_ready(node, up) or _is_explained(source, node):
            continue
        text = source.lines[node.lineno - 1].strip()
        found.append(f"{source.where(node)}: in {function.name}(): {text}")
    return found


@pytest.mark.parametrize("app", APPS)
def test_imports_are_at_the_top_unless_they_break_a_named_cycle(app):
    found = [line for source in app_sources(app) for line in unexplained_late_imports(source)]
    assert not found, ("function-level imports without a '# cycle: …' comment (or '# lazy: …' on a third-party "
                       "library):\n" + "\n".join(found))
