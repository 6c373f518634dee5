"""What other apps report about a pool record's use and standing, written on the receiving side:

* ``received_invoice_selection_record``: deduction's 勾选 accepted (or undone) by the platform → 已勾选抵扣 (or back);
* ``received_customs_match_record``: the 稽核比对 result of a 海关缴款书 (domain.md §14.8); only 相符 may be deducted;
* ``received_invoice_risk_level_record``: the 风险等级 set or cleared outside a verification (a tax office's notice of
  an abnormal voucher, 异常凭证, and its later clearing, §14.3); ``risk_level_changed`` is sent after the commit.

Each locks the record, checks, transitions and records an event. They may run inside the caller's transaction (the
deduction side writes its selection's state in the same one) and never call the platform.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from invoicing.actors import Actor
from invoicing.events import event_record
from receiving.models import CustomsMatch, ReceivedInvoice, ReceivedKind, RiskLevel, UseState
from receiving.services import authorize
from receiving.signals import risk_level_changed_on_commit

P_VERIFY = "receiving.verify_invoice"
PLATFORM = "platform"


def received_invoice_selection_record(*, record: ReceivedInvoice, selected: bool, actor: Actor,
                                      period: str = "") -> ReceivedInvoice:
    """The platform accepted the record's 勾选 (``selected``) or its 撤销勾选: the use state becomes 已勾选抵扣, or goes
    back to what it was before. Already there: nothing changes (a repeated answer)."""
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().select_related("taxpayer").get(pk=record.pk)
        authorize(actor, locked.taxpayer_id)
        before = locked.use_state
        if selected:
            if before == UseState.SELECTED:
                return locked
            if before == UseState.IN_REVIEW:
                return locked  # held for review since the request: the review decides (the selection stands)
            locked.select_for_deduction()
            action = "received_use_selected"
        else:
            if before != UseState.SELECTED:
                return locked
            locked.unselect_for_deduction()
            action = "received_use_unselected"
        locked.save(update_fields=["use_state", "use_state_before_selection", "updated_at"])
        event_record(obj=locked, action=action, actor=actor, actor_label="" if actor else PLATFORM,
                     from_state=before, to_state=locked.use_state, data={"period": period},
                     taxpayer=locked.taxpayer)
    return locked


def received_customs_match_record(*, record: ReceivedInvoice, status: str, actor: Actor,
                                  reason: str = "") -> ReceivedInvoice:
    """The 稽核比对 result of a 海关缴款书 (未比对 / 相符 / 不符 / 滞留 / 缺联), entered by hand or from the platform."""
    if status not in CustomsMatch.values or status == CustomsMatch.NOT_APPLICABLE:
        raise ValidationError({"customs_match": gettext("稽核比对结果不正确：%(value)s（应为未比对、相符、不符、滞留或缺联）") % {
            "value": status}})
    reason = (reason or "").strip()
    if len(reason) > 300:
        raise ValidationError({"reason": gettext("说明：不能超过 300 个字符")})
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().select_related("taxpayer").get(pk=record.pk)
        authorize(actor, locked.taxpayer_id, P_VERIFY)
        if locked.kind != ReceivedKind.CUSTOMS:
            raise ValidationError({"customs_match": gettext("发票 %(number)s 不是海关缴款书，没有稽核比对结果") % {
                "number": locked}})
        before = locked.customs_match
        if before == status:
            return locked
        locked.customs_match = status
        locked.save(update_fields=["customs_match", "updated_at"])
        event_record(obj=locked, action="customs_match", actor=actor, from_state=before, to_state=status,
                     reason=reason, taxpayer=locked.taxpayer)
    record.customs_match = status
    return locked


def received_invoice_risk_level_record(*, record: ReceivedInvoice, risk_level: str, actor: Actor,
                                       reason: str = "") -> ReceivedInvoice:
    """Set the record's 风险等级: 02 异常凭证 when the tax office says so, 01 正常 when it clears it (03 疑点发票)."""
    if risk_level not in (RiskLevel.NORMAL, RiskLevel.ABNORMAL, RiskLevel.SUSPECT):
        raise ValidationError({"risk_level": gettext("风险等级不正确：%(value)s（应为 01、02 或 03）") % {
            "value": risk_level}})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": gettext("原因：必填")})
    if len(reason) > 300:
        raise ValidationError({"reason": gettext("原因：不能超过 300 个字符")})
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().select_related("taxpayer").get(pk=record.pk)
        authorize(actor, locked.taxpayer_id, P_VERIFY)
        before = locked.risk_level
        if before == risk_level:
            return locked
        locked.risk_level = risk_level
        locked.save(update_fields=["risk_level", "updated_at"])
        event_record(obj=locked, action="risk_level", actor=actor, from_state=before, to_state=risk_level,
                     reason=reason, taxpayer=locked.taxpayer)
        risk_level_changed_on_commit(invoice_id=locked.pk, before=before, after=risk_level)
    record.risk_level = risk_level
    return locked
