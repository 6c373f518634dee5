"""What every issuing service does first: check the actor's permission, lock rows in a stable order, number new rows,
and turn rule failures into one ValidationError."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext

from invoicing.actors import Actor, is_system
from invoicing.scoping import user_may_act_on
from issuing.applications import compliance as applications_compliance
from issuing.platform.models import NumberSequence

ZERO = Decimal("0.00")


P_ADD_DOCUMENT = "issuing.add_billingdocument"


P_CHANGE_DOCUMENT = "issuing.change_billingdocument"


P_ADD_APPLICATION = "issuing.add_invoiceapplication"


P_CHANGE_APPLICATION = "issuing.change_invoiceapplication"


P_REVIEW = "issuing.review_invoiceapplication"


P_APPROVE = "issuing.approve_invoiceapplication"


P_ISSUE = "issuing.issue_invoiceapplication"


P_QUOTA = "issuing.change_quotaperiod"


def authorize(actor: Actor, taxpayer_id: int | None, *perms: str, any_of: bool = False) -> None:
    """Raise PermissionDenied unless ``actor`` (a user; the system, None or a SystemActor, is trusted) holds the permissions on the entity."""
    if is_system(actor):
        return
    if not getattr(actor, "is_authenticated", False) or not actor.is_active or not hasattr(actor, "has_perm"):
        raise PermissionDenied(gettext("未登录或账号已停用"))
    if perms:
        held = [actor.has_perm(p) for p in perms]
        if not (any(held) if any_of else all(held)):
            raise PermissionDenied(gettext("没有执行此操作的权限"))
    if not user_may_act_on(actor, taxpayer_id):
        raise PermissionDenied(gettext("无权操作该主体的数据"))


def lock_rows(model: type[models.Model], ids: Iterable[int]) -> list[Any]:
    """Lock rows of ``model`` in primary-key order (so that concurrent bulk actions cannot deadlock)."""
    wanted = sorted(set(ids))
    rows = list(model._default_manager.select_for_update().filter(pk__in=wanted).order_by("pk"))
    if len(rows) != len(wanted):
        raise ValidationError(gettext("%(model)s不存在或已被删除") % {"model": capfirst(model._meta.verbose_name)})
    return rows


def next_number(prefix: str, day: date | None = None) -> str:
    """SQ20261122000001: prefix, local date, a daily sequence (row-locked, inside the caller's transaction)."""
    day = day or timezone.localdate()
    try:
        with transaction.atomic():
            NumberSequence.objects.create(prefix=prefix, day=day, last_value=0)
    except IntegrityError:
        pass
    seq = NumberSequence.objects.select_for_update().get(prefix=prefix, day=day)
    seq.last_value += 1
    seq.save(update_fields=["last_value"])
    return f"{prefix}{day:%Y%m%d}{seq.last_value:06d}"


def _raise_failures(failures: Sequence[applications_compliance.RuleFailure]) -> None:
    if failures:
        raise applications_compliance.ComplianceError(failures)
