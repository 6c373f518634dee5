"""A real IMAP server for the mailbox tests and benchmark: Debian's ``dovecot-imapd``, started in a temporary
directory on a free port, any user name with the password ``secret`` (each test uses its own user, so its own
mailbox), mail put there by IMAP APPEND. ``start()`` returns None when the package is not installed."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

PASSWORD = "secret"
BINARY_PATHS = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = fapiao-test-{port}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
{users}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def _binary() -> str | None:
    return shutil.which("dovecot") or next((p for p in BINARY_PATHS if os.path.exists(p)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dovecot:
    root: Path
    port: int
    host: str = "127.0.0.1"

    def new_user(self) -> str:
        return f"box{uuid.uuid4().hex[:10]}"

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, PASSWORD)
        return client

    def append(self, user: str, *raws: bytes, folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            if folder != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in raws:
                client.append(folder, raw)
        finally:
            client.logout()

    def recreate_folder(self, user: str, folder: str, *raws: bytes) -> None:
        """Delete and create the folder again with ``raws`` in it: the server gives it a new UIDVALIDITY."""
        client = self.client(user)
        try:
            client.delete_folder(folder)
            client.create_folder(folder)
            for raw in raws:
                client.append(folder, raw)
        finally:
            client.logout()

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        client = self.client(user)
        try:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])
        finally:
            client.logout()


def start() -> Dovecot | None:
    binary = _binary()
    if binary is None:
        return None
    root = Path(tempfile.mkdtemp(prefix="fapiao-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    port = _free_port()
    if os.getuid() == 0:
        # root may not own mail: the mail belongs to nobody, the server's own users are the package's
        uid = gid = 65534
        os.chown(root / "mail", uid, gid)
        users = ""
    else:
        uid, gid = os.getuid(), os.getgid()
        me = getpass.getuser()
        users = f"default_internal_user = {me}\ndefault_login_user = {me}\ndefault_internal_group = {me}\n"
    conf = root / "dovecot.conf"
    conf.write_text(CONFIG.format(root=root, port=port, uid=uid, gid=gid, password=PASSWORD, users=users))
    with (root / "start.log").open("wb") as log:  # the daemon keeps its output open: no pipe to wait on
        subprocess.run([binary, "-c", str(conf)], check=True, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                       timeout=30)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot did not answer on port {port}: {log[-2000:]}") from None
            time.sleep(0.05)
    return Dovecot(root=root, port=port)


def stop(server: Dovecot) -> None:
    pid_file = server.root / "run" / "master.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().strip())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    shutil.rmtree(server.root, ignore_errors=True)
