"""Number allocation: 20-digit 数电 发票号码 (domain.md §2.1) and 确认单编号."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import connection

from sandbox.models import NumberSequence, SandboxAccount

_CN = ZoneInfo("Asia/Shanghai")


def _next(prefix: str) -> int:
    """Take the next value of ``prefix``'s counter (call inside a transaction). One ``UPDATE … RETURNING``: the
    row stays locked until the caller commits, so two requests never get the same value."""
    q = connection.ops.quote_name
    table, last, prefix_col = q(NumberSequence._meta.db_table), q("last"), q("prefix")
    sql = f"UPDATE {table} SET {last} = {last} + 1 WHERE {prefix_col} = %s RETURNING {last}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix])
        row = cursor.fetchone()
        if row is None:  # the first number of this prefix
            NumberSequence.objects.get_or_create(prefix=prefix)
            cursor.execute(sql, [prefix])
            row = cursor.fetchone()
    return int(row[0])


def _province(account: SandboxAccount) -> str:
    return (account.region_code or "44")[:2].rjust(2, "0")


def invoice_number(account: SandboxAccount, when: datetime) -> str:
    """YY + 2-digit province + channel digit + 15-digit sequence."""
    prefix = f"{when.astimezone(_CN):%y}{_province(account)}{account.channel_digit or '2'}"
    return f"{prefix}{_next(prefix):015d}"


def red_form_number(account: SandboxAccount, when: datetime) -> str:
    """YY + 2-digit province + 16-digit sequence (20 digits, like the bureau's hzfpxxqrdbh)."""
    yy_prov = f"{when.astimezone(_CN):%y}{_province(account)}"
    return f"{yy_prov}{_next('R' + yy_prov):016d}"
