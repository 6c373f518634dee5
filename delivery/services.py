"""Delivery services: send an invoice over a channel, resend it, emit webhooks, create customer links.

Every service writes the row and an ``Event`` inside one transaction and queues the network work after commit.
The sending itself (``delivery_attempt`` / ``webhook_attempt``, called by thin Celery tasks) claims its row with a
conditional UPDATE (pending → sending), does the I/O outside any transaction, then records the outcome: sent,
pending again with the error (the task retries with backoff), failed after the last retry, or bounced when the
mail server refused the recipient.
"""

from __future__ import annotations

import logging
import re
import smtplib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from delivery.models import (
    CONTENT_TYPES,
    DELIVERED_FORMATS,
    FILE_EXTENSIONS,
    Channel,
    Delivery,
    DeliveryStatus,
    InvoiceLink,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from delivery.rendering import invoice_file_bytes
from delivery.sms import sms_provider
from delivery.webhooks import webhook_post
from invoicing import formatting
from invoicing.actors import Actor, actor_user, is_system
from invoicing.events import event_record
from invoicing.models import Taxpayer
from invoicing.redaction import redact_text
from invoicing.scoping import user_may_act_on
from issuing.platform.models import Invoice

logger = logging.getLogger(__name__)

RESEND_PERMISSION = "delivery.resend_delivery"
SEND_STALE_AFTER = timedelta(minutes=15)  # a row stuck in "sending" (worker killed) may be claimed again
PAPERS = {"A4": "pdf_a4", "A5": "pdf_a5"}
LINK_CHANNELS = frozenset({Channel.QR, Channel.SMS, Channel.WEBHOOK})  # they hand the customer a link
_MOBILE_RE = re.compile(r"^(?:\+?86)?(1\d{10})$")


class DeliveryRetry(Exception):  # noqa: N818 - a signal to the task, not an error report
    """The attempt failed in a way worth retrying; the row is pending again with ``last_error`` set."""


# --- settings knobs (read at call time so tests can override them) ----------------------------------------------


def link_days() -> int:
    return int(getattr(settings, "DELIVERY_LINK_DAYS", 30))


def retry_countdown(retries: int) -> int:
    """Exponential backoff: base, 2×base, 4×base, ... capped (seconds)."""
    base = int(getattr(settings, "DELIVERY_RETRY_BASE_SECONDS", 30))
    cap = int(getattr(settings, "DELIVERY_RETRY_MAX_SECONDS", 3600))
    return min(cap, base * (2**retries))


# --- links -------------------------------------------------------------------------------------------------------


def invoice_link_create(
    *, invoice: Invoice, actor: Actor = None, days: int | None = None, expires_at: datetime | None = None,
    max_views: int | None = None,
) -> InvoiceLink:
    """A customer link to ``invoice``, open until ``expires_at`` (default: ``days`` from now, ``DELIVERY_LINK_DAYS``
    by default) and for at most ``max_views`` opens (None: unlimited)."""
    _check_scope(actor, invoice)
    if expires_at is None:
        expires_at = timezone.now() + timedelta(days=days if days is not None else link_days())
    with transaction.atomic():
        link = InvoiceLink.objects.create(invoice=invoice, expires_at=expires_at, max_views=max_views,
                                          created_by=actor_user(actor))
        event_record(obj=invoice, action="link.created", actor=actor, data={"link_id": link.pk, "days": days},
                     taxpayer=invoice.taxpayer)
    return link


def invoice_link_change(*, link: InvoiceLink, actor: Actor, expires_at: datetime, max_views: int | None) -> InvoiceLink:
    """New terms for a customer link: until ``expires_at``, at most ``max_views`` opens (None: unlimited)."""
    with transaction.atomic():
        locked = InvoiceLink.objects.select_for_update(of=("self",)).select_related("invoice__taxpayer").get(pk=link.pk)
        invoice = locked.invoice
        _check_scope(actor, invoice)
        if locked.revoked_at is not None:
            raise ValidationError(gettext("链接已撤销，不能修改"))
        before = {"expires_at": locked.expires_at.isoformat(), "max_views": locked.max_views}
        locked.expires_at, locked.max_views = expires_at, max_views
        locked.full_clean()
        locked.save(update_fields=["expires_at", "max_views"])
        event_record(obj=invoice, action="link.changed", actor=actor, taxpayer=invoice.taxpayer,
                     data={"link_id": locked.pk, "before": before,
                           "after": {"expires_at": expires_at.isoformat(), "max_views": max_views}})
    return locked


def invoice_link_revoke(*, link: InvoiceLink, actor: Actor) -> bool:
    """Revoke a customer link: from now on it opens nothing. False when it was revoked already."""
    with transaction.atomic():
        locked = InvoiceLink.objects.select_for_update(of=("self",)).select_related("invoice__taxpayer").get(pk=link.pk)
        invoice = locked.invoice
        _check_scope(actor, invoice)
        if locked.revoked_at is not None:
            return False
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        event_record(obj=invoice, action="link.revoked", actor=actor, data={"link_id": locked.pk},
                     taxpayer=invoice.taxpayer)
    link.revoked_at = locked.revoked_at
    return True


def invoice_link_open(*, link: InvoiceLink) -> bool:
    """Count one opening of a customer link's page. False, and nothing counted, when the link is revoked, expired or
    used up: a conditional UPDATE, so two customers opening its last view at once count once."""
    now = timezone.now()
    live = Q(revoked_at__isnull=True, expires_at__gt=now) & (Q(max_views__isnull=True) | Q(views__lt=F("max_views")))
    return InvoiceLink.objects.filter(live, pk=link.pk).update(views=F("views") + 1) == 1


def invoice_file_record_download(*, invoice: Invoice, fmt: str, actor: Actor, link: InvoiceLink | None = None) -> None:
    """The audit trail's "file downloaded": by a user (``actor``), or by whoever holds a customer ``link``."""
    if link is None:
        event_record(obj=invoice, action="file.downloaded", actor=actor, data={"format": fmt},
                     taxpayer=invoice.taxpayer)
    else:
        event_record(obj=invoice, action="file.downloaded", actor_label="客户链接",
                     data={"format": fmt, "link_id": link.pk}, taxpayer=invoice.taxpayer)


def invoice_link_url(link: InvoiceLink) -> str:
    return settings.SITE_URL + reverse("delivery:link", args=[link.token])


# --- sending -----------------------------------------------------------------------------------------------------


def default_delivery_target(invoice: Invoice, channel: str) -> str:
    app = invoice.application
    if channel == Channel.EMAIL:
        return app.delivery_email if app is not None else ""
    if channel == Channel.SMS:
        return app.delivery_mobile if app is not None else ""
    if channel == Channel.WEBHOOK:
        endpoint = next(
            (e for e in WebhookEndpoint.objects.filter(taxpayer_id=invoice.taxpayer_id, is_active=True)
             if e.wants(WebhookEvent.INVOICE_DELIVERED)),
            None,
        )
        return endpoint.url if endpoint is not None else ""
    if channel == Channel.PRINT:
        return "A4"
    return ""


def clean_delivery_target(invoice: Invoice, channel: str, target: str) -> str:
    """The normalised target for ``channel``, or ``ValidationError`` on ``target``."""
    target = (target or "").strip()
    if channel == Channel.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            raise ValidationError({"target": gettext("邮箱地址不正确：%(target)s") % {"target": target or gettext("（空）")}}) from None
        return target
    if channel == Channel.SMS:
        m = _MOBILE_RE.match(target.replace(" ", "").replace("-", ""))
        if not m:
            raise ValidationError({"target": gettext("手机号不正确：%(target)s") % {"target": target or gettext("（空）")}})
        return m.group(1)
    if channel == Channel.WEBHOOK:
        if not target or not WebhookEndpoint.objects.filter(
            taxpayer_id=invoice.taxpayer_id, url=target, is_active=True
        ).exists():
            raise ValidationError({"target": gettext("只能推送到本主体已登记并启用的推送地址")})
        return target
    if channel == Channel.PRINT:
        if target.upper() not in PAPERS:
            raise ValidationError({"target": gettext("纸张只能是 A4 或 A5")})
        return target.upper()
    if channel == Channel.QR:
        return target
    raise ValidationError({"channel": gettext("未知的交付渠道：%(channel)s") % {"channel": channel}})


def _check_scope(actor: Actor, invoice: Invoice) -> None:
    if actor is not None and not user_may_act_on(actor, invoice.taxpayer_id):
        raise PermissionDenied(gettext("无权操作该主体的发票"))


def _queue_attempt(delivery: Delivery) -> None:
    from delivery.tasks import delivery_send as delivery_send_task  # cycle: tasks import services

    delivery_id = delivery.pk
    transaction.on_commit(lambda: delivery_send_task.delay(delivery_id))


def delivery_send(
    *, invoice: Invoice, channel: str, target: str = "", actor: Actor = None, resend_of: Delivery | None = None
) -> Delivery:
    """Record a delivery of ``invoice`` over ``channel`` and send it after commit.

    ``target`` defaults to the application's delivery e-mail / mobile, the entity's webhook endpoint, or A4.
    A QR delivery creates a customer link at once (the target becomes its URL) and is sent immediately.
    """
    _check_scope(actor, invoice)
    if channel not in Channel.values:
        raise ValidationError({"channel": gettext("未知的交付渠道：%(channel)s") % {"channel": channel}})
    target = clean_delivery_target(invoice, channel, target or default_delivery_target(invoice, channel))
    user = actor_user(actor)
    with transaction.atomic():
        delivery = Delivery(invoice=invoice, channel=channel, target=target, created_by=user, resend_of=resend_of)
        link = None
        if channel in LINK_CHANNELS:
            link = invoice_link_create(invoice=invoice, actor=actor)
            delivery.link = link
        if channel == Channel.QR:
            delivery.target = invoice_link_url(link)
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = timezone.now()
        delivery.full_clean()
        delivery.save()
        event_record(
            obj=delivery,
            action="delivery.created",
            actor=actor,
            to_state=delivery.status,
            # A link is not written into the audit trail: whoever reads events could open the invoice with it.
            data={"invoice": invoice.number, "channel": channel,
                  "target": delivery.target if link is None else f"link {link.pk}",
                  "resend_of": resend_of.pk if resend_of else None},
            taxpayer=invoice.taxpayer,
        )
        if delivery.status == DeliveryStatus.PENDING:
            _queue_attempt(delivery)
    return delivery


def auto_send_enabled() -> bool:
    return bool(getattr(settings, "DELIVERY_AUTO_SEND", True))


def invoice_deliver_on_issue(invoice: Invoice) -> list[Delivery]:
    """Deliver a newly issued invoice to the application's e-mail and mobile. Idempotent per channel.

    Called on issuing's ``invoice_recorded`` signal (``delivery.receivers``) inside the issuing transaction; the
    sending itself is queued after commit. A bad address is logged and skipped: it never undoes the invoice.
    """
    app = invoice.application
    if app is None or not auto_send_enabled():
        return []
    already = set(
        Delivery.objects.filter(invoice=invoice, created_by__isnull=True, resend_of__isnull=True).values_list(
            "channel", flat=True
        )
    )
    made = []
    for channel, target in ((Channel.EMAIL, app.delivery_email), (Channel.SMS, app.delivery_mobile)):
        if not target or channel in already:
            continue
        try:
            made.append(delivery_send(invoice=invoice, channel=channel, target=target))
        except ValidationError as exc:
            logger.warning("invoice %s: not delivered by %s: %s", invoice.number, channel, exc)
    return made


def delivery_resend(*, delivery: Delivery, actor: Actor) -> Delivery:
    """Send the same invoice again over the same channel to the same target (customer service may do this)."""
    if actor is not None and not actor.has_perm(RESEND_PERMISSION):
        raise PermissionDenied(gettext("无权重发交付"))
    invoice = delivery.invoice
    _check_scope(actor, invoice)
    if delivery.channel == Channel.QR:
        # Nothing was sent to anyone: a new link is made with a new QR delivery (finance), not by resending.
        raise ValidationError(gettext("二维码/短链接交付不能重发；需要新链接时请重新生成二维码"))
    with transaction.atomic():
        new = delivery_send(invoice=invoice, channel=delivery.channel, target=delivery.target, actor=actor,
                            resend_of=delivery)
        event_record(obj=delivery, action="delivery.resent", actor=actor, data={"resend": new.pk},
                     taxpayer=invoice.taxpayer)
    return new


def _claim(model: type[Delivery] | type[WebhookDelivery], pk: int) -> bool:
    now = timezone.now()
    claimable = Q(status=DeliveryStatus.PENDING) | Q(status=DeliveryStatus.SENDING, updated_at__lt=now - SEND_STALE_AFTER)
    return model.objects.filter(pk=pk).filter(claimable).update(
        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, updated_at=now
    ) == 1


def email_subject(invoice: Invoice) -> str:
    kind = gettext("红字发票") if invoice.is_red else gettext("电子发票")
    return gettext("【%(kind)s】%(seller)s 开具的发票 %(number)s") % {
        "kind": kind, "seller": invoice.seller_name, "number": invoice.number}


def build_email(invoice: Invoice, to: str) -> EmailMessage:
    """The invoice e-mail with its PDF, OFD and XML attached (rendered now if not done yet).

    Written in the site's language (``LANGUAGE_CODE``, Chinese) whoever sends it: the customer's e-mail does not
    follow the language of the staff member's admin session.
    """
    with translation.override(settings.LANGUAGE_CODE):
        subject = email_subject(invoice)
        body = render_to_string("delivery/email.txt", {"invoice": invoice})
    message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    for fmt in DELIVERED_FORMATS:
        message.attach(f"{invoice.number}.{FILE_EXTENSIONS[fmt]}", invoice_file_bytes(invoice, fmt), CONTENT_TYPES[fmt])
    return message


def sms_text(invoice: Invoice, url: str) -> str:
    return f"【{invoice.seller_name}】您的发票（号码 {invoice.number}，价税合计 {formatting.money(invoice.total)} 元）已开具，查看下载：{url}"


def _invoice_payload(invoice: Invoice) -> dict[str, Any]:
    return {
        "number": invoice.number,
        "kind": invoice.kind,
        "is_red": invoice.is_red,
        "issue_date": invoice.issue_date.isoformat(),
        "seller_tax_id": invoice.seller_tax_id,
        "buyer_name": invoice.buyer_name,
        "buyer_tax_id": invoice.buyer_tax_id,
        "amount": str(invoice.amount),
        "tax": str(invoice.tax),
        "total": str(invoice.total),
        "application": invoice.application.number if invoice.application_id else None,
    }


def _delivery_link(delivery: Delivery) -> InvoiceLink:
    """The link created with the delivery (one per delivery, whatever the retries); rows from before links were
    kept on deliveries get one now."""
    if delivery.link_id is None:
        delivery.link = invoice_link_create(invoice=delivery.invoice)
        Delivery.objects.filter(pk=delivery.pk).update(link=delivery.link)
    return delivery.link


def _send(delivery: Delivery) -> str:
    """Do the channel's I/O. Returns the provider message id (may be empty)."""
    invoice = delivery.invoice
    if delivery.channel == Channel.EMAIL:
        build_email(invoice, delivery.target).send(fail_silently=False)
        return ""
    if delivery.channel == Channel.SMS:
        return sms_provider().send(delivery.target, sms_text(invoice, invoice_link_url(_delivery_link(delivery))))
    if delivery.channel == Channel.WEBHOOK:
        endpoint = WebhookEndpoint.objects.filter(
            taxpayer_id=invoice.taxpayer_id, url=delivery.target, is_active=True
        ).first()
        if endpoint is None:
            raise RuntimeError("推送地址已停用或删除")
        payload = {"invoice": _invoice_payload(invoice), "link": invoice_link_url(_delivery_link(delivery))}
        webhook_post(url=endpoint.url, secret=endpoint.secret, event=WebhookEvent.INVOICE_DELIVERED,
                     delivery_id=f"d{delivery.pk}", payload=payload)
        return ""
    if delivery.channel == Channel.PRINT:
        invoice_file_bytes(invoice, PAPERS[delivery.target])
        return ""
    raise RuntimeError(f"channel {delivery.channel} has nothing to send")


def _finish(delivery: Delivery, status: str, **fields: Any) -> None:
    Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=status, updated_at=timezone.now(), **fields
    )


def delivery_attempt(delivery_id: int, *, final: bool = False) -> Delivery | None:
    """One sending attempt. None when the row was not claimable (already sent, or another worker has it).

    Raises ``DeliveryRetry`` when it failed and ``final`` is false; marks it failed when ``final`` is true.
    """
    if not _claim(Delivery, delivery_id):
        return None
    delivery = Delivery.objects.select_related("invoice__taxpayer", "invoice__application", "link").get(pk=delivery_id)
    taxpayer = delivery.invoice.taxpayer
    try:
        message_id = _send(delivery)
    except smtplib.SMTPRecipientsRefused as exc:
        error = redact_text(f"收件人被拒收：{exc.recipients}")[:2000]
        _finish(delivery, DeliveryStatus.BOUNCED, last_error=error)
        _record_failure(delivery, DeliveryStatus.BOUNCED, error, taxpayer)
        delivery.refresh_from_db()
        return delivery
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
        # A provider's error may quote the message, link included: the row, the event and the log get it masked.
        error = redact_text(f"{type(exc).__name__}: {exc}")[:2000]
        logger.warning("delivery %s attempt %s failed: %s", delivery_id, delivery.attempts, error)
        if not final:
            _finish(delivery, DeliveryStatus.PENDING, last_error=error)
            raise DeliveryRetry(error) from exc
        _finish(delivery, DeliveryStatus.FAILED, last_error=error)
        _record_failure(delivery, DeliveryStatus.FAILED, error, taxpayer)
        delivery.refresh_from_db()
        return delivery
    _finish(delivery, DeliveryStatus.SENT, sent_at=timezone.now(), last_error="", provider_message_id=message_id)
    event_record(obj=delivery, action="delivery.sent", from_state=DeliveryStatus.SENDING, to_state=DeliveryStatus.SENT,
                 actor_label="系统任务", data={"attempts": delivery.attempts}, taxpayer=taxpayer)
    delivery.refresh_from_db()
    return delivery


def _record_failure(delivery: Delivery, status: str, error: str, taxpayer: Taxpayer) -> None:
    with transaction.atomic():
        event_record(obj=delivery, action=f"delivery.{status}", from_state=DeliveryStatus.SENDING, to_state=status,
                     actor_label="系统任务", reason=error, taxpayer=taxpayer)
        webhook_emit(
            taxpayer=taxpayer,
            event=WebhookEvent.DELIVERY_FAILED,
            payload={"delivery": delivery.pk, "channel": delivery.channel, "status": status, "error": error,
                     "invoice": _invoice_payload(delivery.invoice)},
        )


def delivery_mark_bounced(*, delivery: Delivery, reason: str, actor: Actor = None) -> Delivery:
    """A bounce reported after sending (a DSN, a provider callback): sent → bounced."""
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENT).update(
            status=DeliveryStatus.BOUNCED, last_error=reason[:2000], updated_at=timezone.now()
        )
        if updated:
            event_record(obj=delivery, action="delivery.bounced", actor=actor, from_state=DeliveryStatus.SENT,
                         to_state=DeliveryStatus.BOUNCED, reason=reason, taxpayer=delivery.invoice.taxpayer)
    delivery.refresh_from_db()
    return delivery


# --- webhooks ----------------------------------------------------------------------------------------------------


def webhook_emit(*, taxpayer: Taxpayer, event: str, payload: dict[str, Any]) -> list[WebhookDelivery]:
    """Queue ``event`` to every active endpoint of ``taxpayer`` subscribed to it (after commit)."""
    from delivery.tasks import webhook_deliver as webhook_deliver_task  # cycle: tasks import services

    rows = []
    for endpoint in WebhookEndpoint.objects.filter(taxpayer=taxpayer, is_active=True).order_by("pk"):
        if endpoint.wants(event):
            rows.append(WebhookDelivery.objects.create(endpoint=endpoint, event=event, payload=payload))
    for row in rows:
        transaction.on_commit(lambda pk=row.pk: webhook_deliver_task.delay(pk))
    return rows


def webhook_endpoint_save(*, endpoint: WebhookEndpoint, actor: Actor, changed: Iterable[str] = ()) -> WebhookEndpoint:
    """Register a new endpoint, or save the new settings of one (set on ``endpoint`` by the caller's form): checked,
    saved and recorded (``changed``: the fields the form changed; the secret itself is never recorded)."""
    if actor is not None and not user_may_act_on(actor, endpoint.taxpayer_id):
        raise PermissionDenied(gettext("无权操作该主体的推送地址"))
    created = endpoint.pk is None
    with transaction.atomic():
        if not created:
            WebhookEndpoint.objects.select_for_update().only("pk").get(pk=endpoint.pk)  # two edits: one at a time
        endpoint.full_clean()
        endpoint.save()
        changed = set(changed)
        event_record(obj=endpoint, action="webhook_endpoint.saved", actor=actor, taxpayer=endpoint.taxpayer,
                     data={"created": created, "changed": sorted(changed - {"secret"}),
                           "secret_changed": "secret" in changed})
    return endpoint


def webhook_attempt(webhook_delivery_id: int, *, final: bool = False) -> WebhookDelivery | None:
    """One POST of one webhook delivery; same contract as ``delivery_attempt``."""
    if not _claim(WebhookDelivery, webhook_delivery_id):
        return None
    row = WebhookDelivery.objects.select_related("endpoint").get(pk=webhook_delivery_id)
    query = WebhookDelivery.objects.filter(pk=row.pk, status=DeliveryStatus.SENDING)
    try:
        status = webhook_post(url=row.endpoint.url, secret=row.endpoint.secret, event=row.event,
                              delivery_id=row.pk, payload=row.payload)
    except Exception as exc:  # noqa: BLE001
        error = redact_text(f"{exc}")[:2000]
        code = getattr(exc, "status", None)
        if not final:
            query.update(status=DeliveryStatus.PENDING, last_error=error, response_status=code,
                         updated_at=timezone.now())
            raise DeliveryRetry(error) from exc
        query.update(status=DeliveryStatus.FAILED, last_error=error, response_status=code, updated_at=timezone.now())
        logger.error("webhook %s to %s failed for good: %s", row.pk, row.endpoint.url, error)
    else:
        now = timezone.now()
        query.update(status=DeliveryStatus.SENT, response_status=status, last_error="", sent_at=now, updated_at=now)
    row.refresh_from_db()
    return row


def webhook_delivery_retry(*, row: WebhookDelivery, actor: Actor) -> bool:
    """Queue a failed webhook delivery again (failed → pending, the push after commit). False when it is not failed."""
    from delivery.tasks import webhook_deliver as webhook_deliver_task  # cycle: tasks import services

    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint__taxpayer").get(
            pk=row.pk)
        if locked.status != DeliveryStatus.FAILED:
            return False
        taxpayer = locked.endpoint.taxpayer
        if not is_system(actor) and not user_may_act_on(actor, taxpayer.pk):
            raise PermissionDenied(gettext("无权操作该主体的推送"))
        WebhookDelivery.objects.filter(pk=locked.pk).update(status=DeliveryStatus.PENDING, updated_at=timezone.now())
        event_record(obj=locked, action="webhook.retried", actor=actor, from_state=DeliveryStatus.FAILED,
                     to_state=DeliveryStatus.PENDING, data={"event": locked.event, "attempts": locked.attempts},
                     taxpayer=taxpayer)
        transaction.on_commit(lambda: webhook_deliver_task.delay(locked.pk))
    return True


# --- webhook subscriptions (an upstream system subscribes through the API) -----------------------------------------


def _check_entity(actor: Actor, taxpayer_id: int) -> None:
    if not is_system(actor) and not user_may_act_on(actor, taxpayer_id):
        raise PermissionDenied(gettext("无权操作该主体的数据"))


def webhook_endpoint_subscribe(
    *, taxpayer: Taxpayer, url: str, events: list[str], name: str = "", actor: Actor
) -> WebhookEndpoint:
    """A new active endpoint of ``taxpayer`` that receives ``events`` (``["*"]``: all) at ``url``, checked like the
    admin's form (``WebhookEndpoint.clean``: no internal address, known event names). Records webhook_subscribed."""
    _check_entity(actor, taxpayer.pk)
    endpoint = WebhookEndpoint(taxpayer=taxpayer, name=name, url=url, events=sorted(set(events)))
    endpoint.full_clean()
    with transaction.atomic():
        endpoint.save()
        event_record(obj=endpoint, action="webhook_subscribed", actor=actor,
                     data={"url": endpoint.url, "events": endpoint.events}, taxpayer=taxpayer)
    return endpoint


def webhook_endpoint_unsubscribe(*, endpoint: WebhookEndpoint, actor: Actor) -> WebhookEndpoint:
    """Switch an endpoint off: it receives nothing more, and keeps its delivery history (so it is not deleted).
    Records webhook_unsubscribed; an endpoint already off is left as it is."""
    _check_entity(actor, endpoint.taxpayer_id)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().select_related("taxpayer").get(pk=endpoint.pk)
        if locked.is_active:
            locked.is_active = False
            locked.save(update_fields=["is_active"])
            event_record(obj=locked, action="webhook_unsubscribed", actor=actor, taxpayer=locked.taxpayer)
    return locked
