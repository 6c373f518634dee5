"""No private name crosses a module boundary in app code.

A name that starts with an underscore belongs to its module: another module neither imports it
(``from issuing.workflow import _next_number``) nor reaches for it through the module (``workflow._next_number()``).
When another module needs it, it becomes public under a name that says what it does. A private module
(``invoicing/documents/_safety.py``) is its package's: only modules inside that package use it (the import contract
``private-modules`` checks the same from the import graph).
"""

from __future__ import annotations

import ast

import pytest

from tests.architecture.codebase import APPS, Source, app_sources, imported_module, is_module, is_private


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _private_module_crossing(source: Source, dotted: str) -> str | None:
    """The first private module in ``dotted`` that ``source`` is not inside the package of, if any."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if is_private(part) and is_module(".".join(parts[: i + 1])):
            if not _inside(source.module, ".".join(parts[:i])):
                return ".".join(parts[: i + 1])
    return None


def _module_bindings(source: Source) -> dict[str, str]:
    """Names bound to a project module by an import anywhere in the file: ``import a.b`` binds ``a``,
    ``import a.b as m`` binds ``m`` to ``a.b``, ``from a import b`` binds ``b`` to ``a.b`` when that is a module."""
    bound: dict[str, str] = {}
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = imported_module(source, node)
            for alias in node.names:
                if is_module(f"{base}.{alias.name}"):
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    return {name: module for name, module in bound.items() if is_module(module)}


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None when the chain does not start at a plain name."""
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(names)]


def private_name_crossings(source: Source) -> list[str]:
    found: list[str] = []
    for node in ast.walk(source.tree):
        if isinstance(node, ast.ImportFrom):
            base = imported_module(source, node)
            if not is_module(base):
                continue
            crossing = _private_module_crossing(source, base)
            if crossing:
                found.append(f"{source.where(node)}: imports from the private module {crossing}")
            for alias in node.names:
                if not is_private(alias.name):
                    continue
                target = f"{base}.{alias.name}"
                if is_module(target) and _inside(source.module, base):
                    continue  # a package's own private module, used inside the package
                found.append(f"{source.where(node)}: from {base} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                crossing = _private_module_crossing(source, alias.name)
                if crossing:
                    found.append(f"{source.where(node)}: imports the private module {crossing}")
    bindings = _module_bindings(source)
    for node in ast.walk(source.tree):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        chain = _dotted(node.value)
        if not chain or chain[0] not in bindings:
            continue
        module = ".".join([bindings[chain[0]], *chain[1:]])
        if is_module(module) and module != source.module:
            found.append(f"{source.where(node)}: {'.'.join(chain)}.{node.attr} (private name of {module})")
    return found


@pytest.mark.parametrize("app", APPS)
def test_no_private_name_crosses_a_module_boundary(app):
    found = [line for source in app_sources(app) for line in private_name_crossings(source)]
    assert not found, "private names used across modules:\n" + "\n".join(found)
