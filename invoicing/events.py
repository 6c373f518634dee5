"""Writing the audit trail. Every state change in every app calls ``event_record``."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.dispatch import Signal
from django.utils.translation import gettext_lazy, pgettext_lazy

from invoicing.models import Event, Taxpayer
from invoicing.redaction import redact, redact_text

# Every action code any app records, in words (the audit trail's 动作 column). tests/kernel/test_event_words.py
# checks that each code recorded anywhere in the code base has its label here.
ACTION_LABELS = {
    # records in general
    "create": pgettext_lazy("event", "创建"),
    "edit": pgettext_lazy("event", "修改"),
    "delete": pgettext_lazy("event", "删除"),
    "payment": pgettext_lazy("event", "登记收款"),
    "refund": pgettext_lazy("event", "登记退款"),
    "delivered": pgettext_lazy("event", "登记交付"),
    "auto_apply": pgettext_lazy("event", "自动申请开票"),
    "auto_apply_failed": pgettext_lazy("event", "自动申请开票未成功"),
    "billing_import": pgettext_lazy("event", "导入业务单据"),
    "paper_receive": pgettext_lazy("event", "领用纸票"),
    "paper_void": pgettext_lazy("event", "空白纸票作废"),
    # a billing document's status, named as the status it moves to (issuing.billing.models.BillingDocumentStatus)
    "mark_open": gettext_lazy("未开票"),
    "mark_partly_applied": gettext_lazy("部分开票"),
    "mark_fully_applied": gettext_lazy("已全部申请"),
    "policy_change": pgettext_lazy("event", "修改开票设置"),
    # applications
    "submit": pgettext_lazy("event", "提交"),
    "auto_approve": pgettext_lazy("event", "自动审核通过"),
    "claim": pgettext_lazy("event", "领取"),
    "release": pgettext_lazy("event", "放弃审核"),
    "approve": pgettext_lazy("event", "批准"),
    "reject": pgettext_lazy("event", "驳回"),
    "withdraw": pgettext_lazy("event", "撤销"),
    "start_issuing": pgettext_lazy("event", "发起开票"),
    "mark_issued": pgettext_lazy("event", "开票成功"),
    "mark_failed": pgettext_lazy("event", "开票失败"),
    "retry": pgettext_lazy("event", "重新开票"),
    "start_red": pgettext_lazy("event", "申请红冲"),
    "finish_red": pgettext_lazy("event", "红冲完成"),
    "cancel_red": pgettext_lazy("event", "红冲撤销"),
    "void": pgettext_lazy("event", "作废"),
    "issued": pgettext_lazy("event", "已开票"),
    "issue_failed": pgettext_lazy("event", "开票失败"),
    "issue_needs_attention": pgettext_lazy("event", "开票结果待确认"),
    "issue_request_refused": pgettext_lazy("event", "排队开票未通过"),
    "issue_retried": pgettext_lazy("event", "重试开票"),
    "issue_reissued_new_serial": pgettext_lazy("event", "换流水号重开"),
    "reconcile_flagged": pgettext_lazy("event", "对账发现问题"),
    "reconcile_bound": pgettext_lazy("event", "对账补记发票"),
    # quota
    "quota_set": pgettext_lazy("event", "设置额度"),
    "quota_consume": pgettext_lazy("event", "占用额度"),
    "quota_restore": pgettext_lazy("event", "恢复额度"),
    # red-letter forms
    "submit_unavailable": pgettext_lazy("event", "提交未送达（平台不可用）"),
    "submit_failed": pgettext_lazy("event", "提交失败"),
    "mark_submit_failed": pgettext_lazy("event", "提交失败"),
    "registered": pgettext_lazy("event", "平台已受理"),
    "mark_registered": pgettext_lazy("event", "平台已受理"),
    "confirm": pgettext_lazy("event", "购方已确认"),
    "expire": pgettext_lazy("event", "已过期"),
    "revoke": pgettext_lazy("event", "已撤销确认单"),
    "void_by_platform": pgettext_lazy("event", "平台作废"),
    "red_flush": pgettext_lazy("event", "红冲"),
    "red_flushed": pgettext_lazy("event", "已红冲"),
    "red_invoice_recorded": pgettext_lazy("event", "红字发票入账"),
    "reissue": pgettext_lazy("event", "重开发票"),
    "reissue_failed": pgettext_lazy("event", "重开发票失败"),
    "discard": pgettext_lazy("event", "放弃确认单"),
    "inbound": pgettext_lazy("event", "收到购方发起的确认单"),
    "refund_red_none": pgettext_lazy("event", "退款无需红冲"),
    "refund_red_refused": pgettext_lazy("event", "退款红冲未执行"),
    # files and deliveries
    "file.printed": pgettext_lazy("event", "打印"),
    "file.downloaded": pgettext_lazy("event", "下载发票文件"),
    "file.rerender": pgettext_lazy("event", "重新生成发票文件"),
    "link.created": pgettext_lazy("event", "生成客户链接"),
    "link.changed": pgettext_lazy("event", "修改客户链接"),
    "link.revoked": pgettext_lazy("event", "撤销客户链接"),
    "delivery.created": pgettext_lazy("event", "创建交付"),
    "delivery.resent": pgettext_lazy("event", "重新发送"),
    "delivery.pending": pgettext_lazy("event", "待发送"),
    "delivery.sending": pgettext_lazy("event", "发送中"),
    "delivery.sent": pgettext_lazy("event", "已发送"),
    "delivery.failed": pgettext_lazy("event", "发送失败"),
    "delivery.bounced": pgettext_lazy("event", "被退回"),
    # receiving: the pool, its files and the batches that bring them
    "receive": pgettext_lazy("event", "收票入池"),
    "carrier_attach": pgettext_lazy("event", "补充发票文件"),
    "hold_for_review": pgettext_lazy("event", "转入复核"),
    "release_to_pool": pgettext_lazy("event", "复核后入池"),
    "flag_for_review": pgettext_lazy("event", "标记待复核"),
    "resolve_review": pgettext_lazy("event", "复核完成"),
    "clear_review": pgettext_lazy("event", "复核问题已由新文件消除"),
    "carrier.downloaded": pgettext_lazy("event", "下载收票文件"),
    "collection_start": pgettext_lazy("event", "开始采集"),
    "begin_processing": pgettext_lazy("event", "开始处理"),
    "complete": pgettext_lazy("event", "采集完成"),
    "abort": pgettext_lazy("event", "采集中止"),
    "book_request": pgettext_lazy("event", "申请入账"),
    "book": pgettext_lazy("event", "已入账"),
    # 报销 (receiving/claims.py)
    "claim_create": pgettext_lazy("event", "创建报销单"),
    "claim_line_add": pgettext_lazy("event", "报销单添加发票"),
    "claim_line_remove": pgettext_lazy("event", "报销单移除发票"),
    "claim_submit": pgettext_lazy("event", "提交报销单"),
    "claim_approve": pgettext_lazy("event", "审批报销单"),
    "claim_reject": pgettext_lazy("event", "驳回报销单"),
    "claim_paid": pgettext_lazy("event", "报销单已付款"),
    "claim_book": pgettext_lazy("event", "报销单入账"),
    "reimbursed": pgettext_lazy("event", "已报销"),
    "reimburse": pgettext_lazy("event", "报销"),
    "mark_paid": pgettext_lazy("event", "登记付款"),
    "book_rejected": pgettext_lazy("event", "平台拒绝入账"),
    "unbook_request": pgettext_lazy("event", "申请取消入账"),
    "unbook": pgettext_lazy("event", "已取消入账"),
    "unbook_rejected": pgettext_lazy("event", "平台拒绝取消入账"),
    # deduction (抵扣)
    "deduction_select_request": pgettext_lazy("event", "申请勾选"),
    "deduction_select": pgettext_lazy("event", "已勾选"),
    "deduction_select_refused": pgettext_lazy("event", "平台拒绝勾选"),
    "deduction_unselect_request": pgettext_lazy("event", "申请撤销勾选"),
    "deduction_unselect": pgettext_lazy("event", "已撤销勾选"),
    "deduction_unselect_refused": pgettext_lazy("event", "平台拒绝撤销勾选"),
    "statistics_apply": pgettext_lazy("event", "申请统计"),
    "statistics_undo": pgettext_lazy("event", "撤销统计"),
    "period_confirm": pgettext_lazy("event", "确认抵扣"),
    "period_confirm_undo": pgettext_lazy("event", "撤销确认抵扣"),
    "period_file": pgettext_lazy("event", "登记申报"),
    "statistics_apply_request": pgettext_lazy("event", "请求平台申请统计"),
    "statistics_undo_request": pgettext_lazy("event", "请求平台撤销统计"),
    "period_confirm_request": pgettext_lazy("event", "请求平台确认抵扣"),
    "period_confirm_undo_request": pgettext_lazy("event", "请求平台撤销确认抵扣"),
    "period_confirm_differs": pgettext_lazy("event", "平台确认的统计与本系统不一致"),
    "select_accept": pgettext_lazy("event", "平台接受勾选"),
    "select_refuse": pgettext_lazy("event", "平台拒绝勾选"),
    "unselect_request": pgettext_lazy("event", "申请撤销勾选"),
    "unselect_accept": pgettext_lazy("event", "平台接受撤销勾选"),
    "unselect_refuse": pgettext_lazy("event", "平台拒绝撤销勾选"),
    "transfer_out": pgettext_lazy("event", "进项税额转出"),
    "received_use_selected": pgettext_lazy("event", "已勾选抵扣"),
    "received_use_unselected": pgettext_lazy("event", "撤销勾选抵扣"),
    "select_for_deduction": pgettext_lazy("event", "已勾选抵扣"),
    "unselect_for_deduction": pgettext_lazy("event", "撤销勾选抵扣"),
    "customs_match": pgettext_lazy("event", "稽核比对结果"),
    "risk_level": pgettext_lazy("event", "风险等级变更"),
    "received_red_form_inbound": pgettext_lazy("event", "收到销方红字确认单"),
    "received_red_form_request": pgettext_lazy("event", "购方发起红字确认单"),
    "received_red_form_submit_failed": pgettext_lazy("event", "红字确认单提交失败"),
    "received_red_form_confirm": pgettext_lazy("event", "确认销方红字确认单"),
    "received_red_form_reject": pgettext_lazy("event", "拒绝销方红字确认单"),
    "received_red_form_status": pgettext_lazy("event", "红字确认单状态更新"),
    "received_red_flushed": pgettext_lazy("event", "发票被红冲"),
    "received_red_attention": pgettext_lazy("event", "已使用的发票被红冲，待处理"),
    "take_remote_status": pgettext_lazy("event", "按平台更新红字确认单状态"),
    "fail_submit": pgettext_lazy("event", "红字确认单提交失败"),
    # receiving: mailboxes and their pending queue
    "mailbox_create": pgettext_lazy("event", "添加收票邮箱"),
    "mailbox_update": pgettext_lazy("event", "修改收票邮箱"),
    "mailbox_fetch_request": pgettext_lazy("event", "立即收取邮件"),
    "mailbox_fetch": pgettext_lazy("event", "收取邮件"),
    "mailbox_fetch_failed": pgettext_lazy("event", "收取邮件失败"),
    "mailbox_uidvalidity_reset": pgettext_lazy("event", "邮箱文件夹已重建，重新扫描"),
    "mail_issue_open": pgettext_lazy("event", "邮件转入待处理"),
    "mail_issue_retry": pgettext_lazy("event", "重试邮件链接"),
    "mail_issue_upload": pgettext_lazy("event", "手工上传邮件发票"),
    "mail_issue_ignore": pgettext_lazy("event", "忽略邮件待处理"),
    "message_done": pgettext_lazy("event", "邮件处理完成"),
    "issue_resolve": pgettext_lazy("event", "待处理已解决"),
    "issue_ignore": pgettext_lazy("event", "待处理已忽略"),
    "platform_status_change": pgettext_lazy("event", "平台发票状态变更"),
    "platform_download_request": pgettext_lazy("event", "请求平台下载"),
    "platform_download_progress": pgettext_lazy("event", "平台下载进度"),
    "platform_download_finish": pgettext_lazy("event", "平台下载结束"),
    "platform_reconcile": pgettext_lazy("event", "收票对账"),
    # receiving: verification (查验) and the receiving rules
    "verify": pgettext_lazy("event", "查验"),
    "verify_bulk_start": pgettext_lazy("event", "开始批量查验"),
    "verify_bulk_progress": pgettext_lazy("event", "批量查验进度"),
    "platform_status": pgettext_lazy("event", "平台报告发票状态"),
    "rules_check": pgettext_lazy("event", "收票规则结果变化"),
    "rule_override": pgettext_lazy("event", "放行规则"),
    "rule_override_lapse": pgettext_lazy("event", "规则放行失效"),
    "rule_create": pgettext_lazy("event", "新建收票规则"),
    "rule_change": pgettext_lazy("event", "修改收票规则"),
    "blacklist_add": pgettext_lazy("event", "列入黑名单"),
    "blacklist_remove": pgettext_lazy("event", "移出黑名单"),
    "seller_status": pgettext_lazy("event", "核实销售方状态"),
    "correct": pgettext_lazy("event", "更正发票信息"),
    # API clients and webhooks
    "api_create": pgettext_lazy("event", "接口创建"),
    "api_refund": pgettext_lazy("event", "接口登记退款"),
    "api_withdraw": pgettext_lazy("event", "接口撤销"),
    "api_submit": pgettext_lazy("event", "接口提交"),
    "api_payment": pgettext_lazy("event", "接口登记收款"),
    "api_delivered": pgettext_lazy("event", "接口登记交付"),
    "api_reapply": pgettext_lazy("event", "接口重新申请"),
    "api_delivery_requested": pgettext_lazy("event", "接口请求发送发票"),
    "api_deduction_select": pgettext_lazy("event", "接口申请勾选"),
    "api_deduction_unselect": pgettext_lazy("event", "接口申请撤销勾选"),
    "api_deduction_resend": pgettext_lazy("event", "接口重新提交勾选"),
    "api_client_created": pgettext_lazy("event", "创建接口客户端"),
    "api_client_rotated": pgettext_lazy("event", "更换接口密钥"),
    "webhook_subscribed": pgettext_lazy("event", "订阅推送"),
    "webhook_endpoint.saved": pgettext_lazy("event", "保存推送地址"),
    "webhook.retried": pgettext_lazy("event", "重新推送"),
    "webhook_unsubscribed": pgettext_lazy("event", "取消订阅推送"),
}

def action_label(code: str) -> str:
    """The audit trail's action in words; an unknown code is shown as it is."""
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code


# Sent with ``events=[...]`` after ``events_record_many`` (bulk inserts send no ``post_save``): whatever listens to
# new events one by one (webhooks) listens here too.
events_recorded = Signal()


def event_record(
    *,
    obj: models.Model,
    action: str,
    actor: Any = None,
    actor_label: str = "",
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    taxpayer: Taxpayer | None = None,
) -> Event:
    """Append one event for ``obj``. ``actor`` is a user (or None for the system / an API client)."""
    event = _event(obj=obj, action=action, actor=actor, actor_label=actor_label, from_state=from_state,
                   to_state=to_state, reason=reason, data=data, taxpayer=taxpayer)
    event.save()
    return event


def events_record_many(rows: list[dict[str, Any]]) -> list[Event]:
    """Append many events in one insert; each row holds ``event_record``'s keyword arguments. For services that
    change many objects in one transaction (batch issuing)."""
    events = Event.objects.bulk_create([_event(**row) for row in rows])
    if events:
        events_recorded.send(sender=Event, events=events)
    return events


def _event(
    *,
    obj: models.Model,
    action: str,
    actor: Any = None,
    actor_label: str = "",
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    taxpayer: Taxpayer | None = None,
) -> Event:
    if taxpayer is None:
        taxpayer = getattr(obj, "taxpayer", None) if not isinstance(obj, Taxpayer) else obj
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    if not actor_label and actor is not None and user is None:
        actor_label = str(actor)
    return Event(
        actor=user,
        actor_label=actor_label[:100],
        taxpayer=taxpayer,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk),
        action=action,
        from_state=str(from_state or ""),
        to_state=str(to_state or ""),
        # Customer links and API tokens are masked: whoever reads the trail must not be able to use them.
        reason=redact_text(reason),
        data=redact(data or {}),
    )


def events_for(obj: models.Model) -> models.QuerySet[Event]:
    return Event.objects.filter(
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False), object_id=str(obj.pk)
    ).select_related("actor")
