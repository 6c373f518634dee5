"""Mailbox throughput: 1,000 messages with invoice attachments collected from a real IMAP server (dovecot), beside
the same files read from disk through the upload path, in the same run.

Standalone: ``python bench/bench_mailbox.py`` (``make bench`` runs it). Size from ``BENCH_MAILBOX_MESSAGES``
(default 1000). Needs Debian's ``dovecot-imapd`` (started in a temporary directory, as the tests do); without it the
benchmark says so and exits 0.

* **disk (baseline)**: the files written to a folder, then ``bundles.entries`` + ``collecting.collect_entries`` into
  one batch: what ``manage.py collect_invoices`` and the upload job do.
* **mailbox**: the same number of messages, each with one such file (XML and OFD alternately, other invoice
  numbers), put into dovecot by IMAP APPEND (not timed), then one ``fetching.mailbox_fetch`` run: IMAP search and
  fetch, parsing, claiming and closing each message exactly once, and the same collecting.

Printed: messages (files) per second for both and the ratio mailbox / disk. The goal: the mailbox path costs little
beyond collecting the files (ratio ≥ 0.5: the per-message bookkeeping and IMAP at most doubles the time per file).

Database: ``DATABASE_URL`` if set (it must be disposable), else a fresh SQLite file in a temporary directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MESSAGES = int(os.environ.get("BENCH_MAILBOX_MESSAGES", "1000"))


def setup_django() -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "invoicing.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    var = tempfile.mkdtemp(prefix="fapiao-bench-mailbox-")
    os.environ.setdefault("MEDIA_ROOT", f"{var}/media")
    if os.environ.get("DATABASE_URL"):
        from bench.pgdb import ensure_database

        ensure_database(os.environ["DATABASE_URL"])
    else:
        os.environ["FAPIAO_VAR_DIR"] = var
        os.environ["DATABASE_URL"] = f"sqlite:///{var}/bench.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def files(start: int, count: int) -> list[tuple[str, bytes]]:
    from invoicing.documents import write_ofd, write_xml
    from invoicing.documents.demo import demo_document

    out = []
    for i in range(start, start + count):
        number = f"2531200000{i:010d}"
        doc = demo_document(number=number, kind="81", lines=1)
        out.append((f"{number}.ofd", write_ofd(doc)) if i % 2 else (f"{number}.xml", write_xml(doc)))
    return out


def main() -> int:
    from bench import dovecot

    server = dovecot.start()
    if server is None:
        print("dovecot-imapd is not installed: skipped (apt-get install dovecot-imapd)")
        return 0
    try:
        setup_django()
        return run(server)
    finally:
        dovecot.stop(server)


def run(server) -> int:
    from django.db import connection

    from invoicing.models import Taxpayer
    from receiving import bundles, collecting, services
    from receiving.mailbox import fetching, messages
    from receiving.mailbox import services as mail_services
    from receiving.models import Method, ReceivedInvoice

    if ReceivedInvoice.objects.exists():  # a disposable database used before: start from an empty pool
        from django.apps import apps

        tables = [m._meta.db_table for m in apps.get_app_config("receiving").get_models()]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
            else:
                for table in reversed(tables):
                    cursor.execute(f"DELETE FROM {table}")
    entity, _ = Taxpayer.objects.get_or_create(credit_code="91310115MA1K4ABC2X",
                                               defaults={"name": "上海浦江数字科技有限公司", "short_name": "浦江"})
    print(f"database: {connection.vendor}; messages: {MESSAGES}")
    t = time.perf_counter()
    disk_files = files(0, MESSAGES)
    mail_files = files(MESSAGES, MESSAGES)
    print(f"files made in {time.perf_counter() - t:.1f} s")

    folder = Path(tempfile.mkdtemp(prefix="fapiao-bench-files-"))
    for name, data in disk_files:
        (folder / name).write_bytes(data)
    user = server.new_user()
    client = server.client(user)
    t = time.perf_counter()
    for i, (name, data) in enumerate(mail_files):
        client.append("INBOX", messages.compose(subject=f"电子发票 {i}", sender="invoice@xihu.example.com",
                                                to="finance@pujiang.example.com", text="您的电子发票见附件。",
                                                attachments=((name, data),)))
    client.logout()
    print(f"appended {MESSAGES} messages in {time.perf_counter() - t:.1f} s")

    # disk: the upload path over the same kind of files
    t = time.perf_counter()
    batch = services.collection_start(taxpayer=entity, method=Method.CLI, actor=None)
    entries = bundles.entries(sorted(folder.iterdir()), limits=bundles.Limits(MESSAGES * 2, 10**10, 20 * 1024**2))
    for _item in collecting.collect_entries(collection=batch, entries=entries, actor=None):
        pass
    services.collection_finish(collection=batch, actor=None)
    disk = time.perf_counter() - t

    box = mail_services.mailbox_create(taxpayer=entity, name="bench", host=server.host, port=server.port,
                                       security="plain", username=user, password="secret", actor=None)
    t = time.perf_counter()
    result = fetching.mailbox_fetch(box.pk)
    mail = time.perf_counter() - t

    records = ReceivedInvoice.objects.filter(taxpayer=entity).count()
    ok = result.status == "done" and result.messages == MESSAGES and result.files == MESSAGES \
        and records == 2 * MESSAGES
    disk_rate, mail_rate = MESSAGES / disk, MESSAGES / mail
    print(f"disk (upload path): {MESSAGES} files in {disk:.2f} s = {disk_rate:.1f} files/s")
    print(f"mailbox (dovecot):  {result.messages} messages, {result.files} files, {result.issues} pending "
          f"in {mail:.2f} s = {mail_rate:.1f} messages/s")
    print(f"ratio mailbox / disk: {mail_rate / disk_rate:.2f} (goal >= 0.5); records {records}; "
          f"{'OK' if ok else 'WRONG COUNTS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
