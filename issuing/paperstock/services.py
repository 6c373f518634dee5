"""票仓's write paths: receive a batch, take the next number at issue, void blank numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.actors import Actor, actor_label, actor_user, is_system
from invoicing.events import event_record
from invoicing.models import Taxpayer
from invoicing.scoping import user_may_act_on
from issuing.paperstock.models import PAPER_NUMBER_DIGITS, PaperBatch, PaperKind, PaperVoid, PaperVoidReason

MAX_NUMBER = 10**PAPER_NUMBER_DIGITS - 1
MAX_VOID_AT_ONCE = 1000


def _check_actor(actor: Actor, taxpayer_id: int, perm: str) -> None:
    if is_system(actor):
        return
    user = actor_user(actor)
    if user is None or not user.has_perm(perm) or not user_may_act_on(user, taxpayer_id):
        raise PermissionDenied(gettext("您没有管理该主体纸票库存的权限"))


def paper_batch_receive(*, taxpayer: Taxpayer, kind: str, code: str, start_number: int, end_number: int,
                        received_at: datetime | None = None, actor: Actor) -> PaperBatch:
    """Record a batch of blank 数电纸票 the entity received. Refuses a range that overlaps a batch of the same code
    (a paper code + number names one sheet, whichever entity holds it)."""
    code = (code or "").strip()
    errors: dict[str, str] = {}
    if kind not in PaperKind.values:
        errors["kind"] = gettext("发票种类 %(kind)s 不是数电纸票（85 或 86）") % {"kind": kind}
    if not code.isdigit() or len(code) not in (10, 12):
        errors["code"] = gettext("纸质发票代码必须是10位或12位数字")
    if not 0 < start_number <= MAX_NUMBER:
        errors["start_number"] = gettext("起始号码必须是1到99999999之间的数字")
    if not 0 < end_number <= MAX_NUMBER:
        errors["end_number"] = gettext("终止号码必须是1到99999999之间的数字")
    elif "start_number" not in errors and end_number < start_number:
        errors["end_number"] = gettext("终止号码不能小于起始号码")
    if errors:
        raise ValidationError(errors)
    _check_actor(actor, taxpayer.pk, "issuing.add_paperbatch")
    with transaction.atomic():
        # Lock the code's batches so two receipts of overlapping ranges cannot both pass the check.
        same_code = list(PaperBatch.objects.select_for_update().filter(code=code).order_by("pk"))
        for other in same_code:
            if other.start_number <= end_number and start_number <= other.end_number:
                raise ValidationError({"start_number": gettext(
                    "号码段 %(start)s–%(end)s 与已登记的发票代码 %(code)s 号码段 %(other_start)s–%(other_end)s 重叠"
                ) % {"start": PaperBatch.number_text(start_number), "end": PaperBatch.number_text(end_number),
                     "code": code, "other_start": other.first_label, "other_end": other.last_label}})
        batch = PaperBatch.objects.create(
            taxpayer=taxpayer, kind=kind, code=code, start_number=start_number, end_number=end_number,
            next_number=start_number, remaining=end_number - start_number + 1,
            received_at=received_at or timezone.now(), received_by=actor_user(actor),
        )
        event_record(obj=batch, action="paper_receive", actor=actor_user(actor), actor_label=actor_label(actor),
                     taxpayer=taxpayer,
                     data={"kind": kind, "code": code, "start": batch.first_label, "end": batch.last_label,
                           "count": batch.size})
    return batch


@dataclass(frozen=True)
class PaperNumber:
    code: str
    number: str
    batch_id: int


def paper_number_take(*, taxpayer_id: int, kind: str, actor: Actor = None) -> PaperNumber | None:
    """The entity's next blank sheet of ``kind``: the oldest batch with stock, its lowest number neither taken nor
    voided. Call inside the transaction that records the invoice (the batch row stays locked until it commits, so
    concurrent issuing never takes a number twice). None when the entity has no stock of the kind."""
    with transaction.atomic():
        batch = (PaperBatch.objects.select_for_update()
                 .filter(taxpayer_id=taxpayer_id, kind=kind, remaining__gt=0)
                 .order_by("received_at", "pk").first())
        if batch is None:
            return None
        voided = set(PaperVoid.objects.filter(batch=batch, number__gte=batch.next_number)
                     .values_list("number", flat=True))
        number = batch.next_number
        while number in voided:
            number += 1
        if number > batch.end_number:  # remaining disagreed with the voids: repair and look again
            batch.next_number, batch.remaining = batch.end_number + 1, 0
            batch.save(update_fields=["next_number", "remaining"])
            return paper_number_take(taxpayer_id=taxpayer_id, kind=kind, actor=actor)
        batch.next_number = number + 1
        batch.remaining -= 1
        batch.save(update_fields=["next_number", "remaining"])
    return PaperNumber(code=batch.code, number=PaperBatch.number_text(number), batch_id=batch.pk)


def paper_blank_void(*, batch: PaperBatch, start_number: int, end_number: int, reason: str, note: str = "",
                     actor: Actor) -> int:
    """空白发票作废: numbers ``start_number``..``end_number`` of the batch, none of them taken yet, voided (blank
    voided, damaged or lost) with the reason; issuing never takes them afterwards. Returns how many."""
    errors: dict[str, str] = {}
    if reason not in PaperVoidReason.values:
        errors["reason"] = gettext("请选择作废原因（空白作废、损毁或丢失）")
    if end_number < start_number:
        errors["end_number"] = gettext("终止号码不能小于起始号码")
    elif end_number - start_number + 1 > MAX_VOID_AT_ONCE:
        errors["end_number"] = gettext("一次最多作废%(limit)s份") % {"limit": MAX_VOID_AT_ONCE}
    if errors:
        raise ValidationError(errors)
    _check_actor(actor, batch.taxpayer_id, "issuing.void_paperbatch")
    with transaction.atomic():
        locked = PaperBatch.objects.select_for_update().select_related("taxpayer").get(pk=batch.pk)
        if start_number < locked.start_number or end_number > locked.end_number:
            raise ValidationError({"start_number": gettext("号码段 %(start)s–%(end)s 不在本批 %(first)s–%(last)s 之内") % {
                "start": PaperBatch.number_text(start_number), "end": PaperBatch.number_text(end_number),
                "first": locked.first_label, "last": locked.last_label}})
        if start_number < locked.next_number:
            raise ValidationError({"start_number": gettext("号码 %(number)s 已开具，不是空白发票") % {
                "number": PaperBatch.number_text(start_number)}})
        already = sorted(PaperVoid.objects.filter(batch=locked, number__gte=start_number, number__lte=end_number)
                         .values_list("number", flat=True))
        if already:
            raise ValidationError({"start_number": gettext("号码 %(number)s 已作废") % {
                "number": PaperBatch.number_text(already[0])}})
        now = timezone.now()
        PaperVoid.objects.bulk_create([
            PaperVoid(batch=locked, taxpayer_id=locked.taxpayer_id, number=n, reason=reason, note=note[:200],
                      voided_at=now, voided_by=actor_user(actor))
            for n in range(start_number, end_number + 1)
        ])
        count = end_number - start_number + 1
        locked.remaining -= count
        locked.save(update_fields=["remaining"])
        event_record(obj=locked, action="paper_void", actor=actor_user(actor), actor_label=actor_label(actor),
                     taxpayer=locked.taxpayer, reason=note,
                     data={"reason": reason, "start": PaperBatch.number_text(start_number),
                           "end": PaperBatch.number_text(end_number), "count": count})
    batch.remaining = locked.remaining
    return count
