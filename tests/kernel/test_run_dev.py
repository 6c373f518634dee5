"""``scripts/run_dev.sh`` (what ``make run`` serves with) stops within seconds on SIGTERM to its process group (a
closed terminal, systemd, docker) and on Ctrl-C (SIGINT to the group), every time, and leaves no process behind.

Each run starts the real script (runserver, a Celery worker and beat) on SQLite in a temporary var/ folder, on a
free port, after ``migrate``; the processes it starts carry a marker in their environment, so that one that left the
group (another session) is found too.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow

ROOT = Path(settings.BASE_DIR)
SCRIPT = ROOT / "scripts" / "run_dev.sh"
STOP_WITHIN = 8  # seconds: the script's grace period (RUN_DEV_STOP_SECONDS=3 here) and its KILL, with room to spare
START_WITHIN = 90


def _free_port() -> int:
    """A free port below the kernel's ephemeral range. The server binds it seconds later; meanwhile the outgoing
    connections of other test processes (pytest-xdist workers) take their source ports from that range."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    candidates = random.sample(range(max(1024, low - 8000), low), 200) if low > 2024 else []
    for port in [*candidates, 0]:  # 0: any port the kernel gives
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def _env(var_dir: Path, marker: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DJANGO_SETTINGS_MODULE",
                        "MEDIA_ROOT", "SECRET_KEY", "CELERY_TASK_ALWAYS_EAGER")}
    env.update(DEBUG="1", FAPIAO_VAR_DIR=str(var_dir), DATABASE_URL=f"sqlite:///{var_dir / 'fapiao.sqlite3'}",
               RUN_DEV_TEST_MARKER=marker, RUN_DEV_STOP_SECONDS="3", PYTHONUNBUFFERED="1")
    return env


def _marked(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``marker``."""
    found = []
    needle = f"RUN_DEV_TEST_MARKER={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _log(var_dir: Path, name: str) -> str:
    path = var_dir / "log" / name
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("run-dev-var")
    for command in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):  # as ``make run``: the worker gets busy
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=_env(var_dir, "migrate"), check=True,
                       timeout=600, stdout=subprocess.DEVNULL)
    return var_dir


def _start(var_dir: Path, marker: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    for name in ("worker.log", "beat.log"):
        (var_dir / "log" / name).unlink(missing_ok=True)
    out = open(var_dir / f"run-{marker}.out", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([str(SCRIPT)], cwd=ROOT, env=_env(var_dir, marker) | {"PORT": str(port)},
                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    deadline = time.monotonic() + START_WITHIN
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"run_dev.sh exited early ({proc.returncode}): "
                        f"{(var_dir / f'run-{marker}.out').read_text(errors='replace')[-2000:]}")
        if (_port_answers(port) and " ready." in _log(var_dir, "worker.log")
                and "beat: Starting" in _log(var_dir, "beat.log")):
            return proc, port
        time.sleep(0.2)
    _kill_everything(proc.pid, marker)
    pytest.fail("run_dev.sh did not come up: " + _log(var_dir, "worker.log")[-2000:])


def _kill_everything(pgid: int, marker: str) -> None:
    """Leave nothing behind after a failed run (the test fails for it anyway)."""
    for pid in _marked(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.parametrize(("sig", "settles"), [(signal.SIGTERM, (1.0, 4.0, 0.3)), (signal.SIGINT, (2.0, 0.5))],
                         ids=["SIGTERM", "SIGINT"])
def test_run_dev_stops_within_seconds_and_leaves_nothing_behind(migrated, sig, settles):
    for round_no, settle in enumerate(settles):
        marker = uuid.uuid4().hex
        proc, port = _start(migrated, marker)
        assert _marked(marker)  # the marker does find the script's processes
        time.sleep(settle)  # signalled at different moments of the worker's start-up work
        started = time.monotonic()
        os.killpg(proc.pid, sig)  # the whole group, as a closed terminal, systemd, docker or Ctrl-C do
        try:
            proc.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            left = _marked(marker)
            _kill_everything(proc.pid, marker)
            pytest.fail(f"round {round_no + 1}: run_dev.sh still running {STOP_WITHIN} s after {sig.name} "
                        f"(processes {left}); worker log: {_log(migrated, 'worker.log')[-1500:]}")
        took = time.monotonic() - started
        deadline = time.monotonic() + 2
        while (_group_alive(proc.pid) or _marked(marker)) and time.monotonic() < deadline:
            time.sleep(0.1)  # what was killed last is being reaped
        left, group_alive = _marked(marker), _group_alive(proc.pid)
        _kill_everything(proc.pid, marker)
        assert not group_alive and left == [], f"round {round_no + 1}: processes left behind: {left}"
        assert took < STOP_WITHIN
        assert not _port_answers(port)
