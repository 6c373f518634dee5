"""The import contracts of pyproject.toml ([tool.importlinter]) hold: one test per contract, so that a failure names
the rule (docs/architecture.md cites the same ids). ``make lint`` and CI run the same check."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.architecture.codebase import ROOT

CONTRACTS = [c.get("id", "") for c in tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
             ["tool"]["importlinter"]["contracts"]]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_every_contract_has_an_id():
    assert CONTRACTS and all(CONTRACTS)


@pytest.mark.parametrize("contract", CONTRACTS)
def test_the_import_contract_is_kept(contract):
    run = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", "--contract", contract],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
