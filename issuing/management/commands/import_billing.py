"""python manage.py import_billing FILE [--entity CREDIT_CODE] [--user USERNAME] [--dry-run] [--errors OUT.xlsx]

Imports billing documents with their lines from an .xlsx or .csv file through the fast path: all or nothing.
Prints a progress line while it runs and every error (sheet, row, column, value, rule) when the file is refused.
"""

from __future__ import annotations

import sys
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from invoicing.intake.error_workbook import write_error_workbook
from invoicing.models import Taxpayer
from issuing.intake.run import import_billing_file


class Command(BaseCommand):
    help = "导入业务单据（.xlsx / .csv），全部校验通过才写入"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--entity", help="主体的统一社会信用代码；文件的“主体税号”列可留空")
        parser.add_argument("--user", help="以该用户身份导入（检查其可操作的主体）；缺省为不受限的系统导入")
        parser.add_argument("--dry-run", action="store_true", help="只校验，不写入")
        parser.add_argument("--errors", help="把错误清单写入这个 .xlsx 文件")
        parser.add_argument("--max-errors", type=int, default=200, help="最多打印多少条错误")

    def handle(self, *args, **opts):
        user = None
        if opts["user"]:
            try:
                user = get_user_model().objects.get(username=opts["user"])
            except get_user_model().DoesNotExist:
                raise CommandError(f"用户不存在：{opts['user']}") from None
        else:
            user = _SystemUser()
        taxpayer = None
        if opts["entity"]:
            taxpayer = Taxpayer.objects.filter(credit_code=opts["entity"]).first()
            if taxpayer is None:
                raise CommandError(f"主体不存在：{opts['entity']}")
        started = time.monotonic()
        tty = self.stdout.isatty() if hasattr(self.stdout, "isatty") else False

        def progress(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            pct = f"{100 * done / total:5.1f}%" if total else "   ?  "
            line = f"{pct}  {done}/{total} 行  {rate:,.0f} 行/秒"
            if tty:
                self.stdout.write("\r" + line, ending="")
            else:
                self.stdout.write(line)
            self.stdout.flush()

        out = import_billing_file(opts["file"], user=user, taxpayer=taxpayer, dry_run=opts["dry_run"],
                                  progress=progress)
        if tty:
            self.stdout.write("")
        elapsed = time.monotonic() - started
        if not out.ok:
            for item in out.issues[: opts["max_errors"]]:
                self.stderr.write(str(item))
            if out.issue_count > opts["max_errors"]:
                self.stderr.write(f"……另有 {out.issue_count - opts['max_errors']} 条错误")
            if opts["errors"]:
                write_error_workbook(out.issues, opts["errors"], total=out.issue_count)
                self.stderr.write(f"错误清单已写入 {opts['errors']}")
            raise CommandError(f"导入失败：{out.issue_count} 个错误，未写入任何数据（{elapsed:.1f} 秒）")
        verb = "校验通过（未写入）" if out.dry_run else "已导入"
        self.stdout.write(self.style.SUCCESS(
            f"{verb}：{out.documents} 张单据，{out.lines} 行明细；金额 {out.totals['amount']}，"
            f"税额 {out.totals['tax']}，价税合计 {out.totals['total']}；用时 {elapsed:.1f} 秒"
            f"（{out.rows / max(elapsed, 1e-6):,.0f} 行/秒）"
        ))
        sys.stdout.flush()


class _SystemUser:
    """The command run without --user: an operator on the server, not limited to any entity."""

    pk = None
    is_authenticated = True
    is_active = True
    is_superuser = True
