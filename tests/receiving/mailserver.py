"""The mailbox tests' IMAP server (``bench/dovecot.py``): without ``dovecot-imapd`` the tests are skipped, except in
CI (``CI=true``), where they fail."""

from __future__ import annotations

import os

import pytest

from bench import dovecot
from bench.dovecot import PASSWORD, Dovecot

__all__ = ["PASSWORD", "Dovecot", "start_dovecot", "stop_dovecot"]


def start_dovecot() -> Dovecot:
    server = dovecot.start()
    if server is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("dovecot is not installed (apt-get install dovecot-imapd): .ci/run installs it")
        pytest.skip("dovecot-imapd is not installed (runs in CI)")
    return server


def stop_dovecot(server: Dovecot) -> None:
    dovecot.stop(server)
