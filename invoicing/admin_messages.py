"""How an admin action reports what it did: success only for success.

``report_rows`` is for actions over selected rows: all done → a green success message; some refused → a warning
with what was done and an error counting the refused, then one error line per refused row with its reason;
nothing done → only the errors. The caller passes
counted texts (``ngettext``) so that every language gets its plural right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext

MAX_LINES = 20  # reasons shown one per message; the rest are counted


class MessagesUser(Protocol):
    """What reports to the user: a ModelAdmin."""

    def message_user(self, request: HttpRequest, message: str, level: int = ...) -> None: ...


def report_rows(
    modeladmin: MessagesUser,
    request: HttpRequest,
    *,
    done: int,
    failures: Sequence[str],
    done_text: Callable[[int], str],
    failed_text: Callable[[int], str] | None = None,
) -> None:
    """``done_text(n)``: "已领取 n 张申请单"; ``failed_text(n)``: "n 张未能领取" (a generic text when omitted);
    ``failures``: one "number：reason" per refused row."""
    failed = len(failures)
    failed_words = (failed_text or _failed_rows)(failed) if failed else ""
    if failed == 0:
        if done:
            modeladmin.message_user(request, done_text(done), messages.SUCCESS)
        return
    if done:  # partly done: a warning, never a success
        modeladmin.message_user(request, done_text(done), messages.WARNING)
    modeladmin.message_user(request, failed_words, messages.ERROR)
    for line in failures[:MAX_LINES]:
        modeladmin.message_user(request, line, messages.ERROR)
    if failed > MAX_LINES:
        more = failed - MAX_LINES
        modeladmin.message_user(request, ngettext("另有 %(n)d 条未处理，原因同上或见各条记录",
                                                  "另有 %(n)d 条未处理，原因同上或见各条记录", more) % {"n": more},
                                messages.ERROR)


def _failed_rows(n: int) -> str:
    return ngettext("%(n)d 条未能处理", "%(n)d 条未能处理", n) % {"n": n}


def item_error(item: object, error: str) -> str:
    """One refused row: "number：reason"."""
    return gettext("%(item)s：%(error)s") % {"item": item, "error": error}


def error_text(exc: Exception) -> str:
    """A refused action's reason as the user reads it: the ValidationError's messages, joined with ；."""
    if isinstance(exc, ValidationError):
        return gettext("；").join(exc.messages)
    return str(exc) or gettext("没有执行此操作的权限")


def join_items(items: Sequence[object]) -> str:
    """Numbers in a message, joined with 、 (", " in English)."""
    return gettext("、").join(str(item) for item in items)
