"""Celery tasks: ids in, a service call, retries with exponential backoff. No logic of their own."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from delivery import printing, rendering, services
from invoicing.celery import beat_schedule_add

MAX_RETRIES = 6
# How often beat runs the sweep of lost render and print messages (DELIVERY_RENDER_SWEEP_SECONDS); read once, here,
# because beat reads its schedule when it starts.
REQUEUE_SECONDS = float(max(1, int(getattr(settings, "DELIVERY_RENDER_SWEEP_SECONDS", 300))))

BEAT_SCHEDULE = {
    "delivery-requeue-stale-files": {
        "task": "delivery.requeue_stale_files",
        "schedule": REQUEUE_SECONDS,
        "options": {"expires": REQUEUE_SECONDS},
    },
}


@shared_task(bind=True, name="delivery.render_invoice_file", ignore_result=True)
def invoice_file_render(self, file_id: int) -> None:  # noqa: ANN001
    # Delivered again by the broker: the worker that had this message died without acknowledging it (killed while
    # rendering), so the row it left "rendering" is taken over now rather than after RENDER_STALE_AFTER.
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    rendering.invoice_file_render(file_id, take_over=redelivered)


@shared_task(name="delivery.print_job", ignore_result=True)
def print_job_render(job_id: int) -> None:
    printing.print_job_render(job_id)


@shared_task(name="delivery.requeue_stale_files", ignore_result=True)
def invoice_files_requeue_stale() -> int:
    return rendering.invoice_files_requeue_stale() + printing.print_jobs_requeue_stale()


@shared_task(bind=True, name="delivery.send", ignore_result=True, max_retries=MAX_RETRIES)
def delivery_send(self, delivery_id: int) -> None:
    final = self.request.retries >= self.max_retries
    try:
        services.delivery_attempt(delivery_id, final=final)
    except services.DeliveryRetry as exc:
        raise self.retry(exc=exc, countdown=services.retry_countdown(self.request.retries)) from exc


@shared_task(bind=True, name="delivery.webhook", ignore_result=True, max_retries=MAX_RETRIES + 2)
def webhook_deliver(self, webhook_delivery_id: int) -> None:
    final = self.request.retries >= self.max_retries
    try:
        services.webhook_attempt(webhook_delivery_id, final=final)
    except services.DeliveryRetry as exc:
        raise self.retry(exc=exc, countdown=services.retry_countdown(self.request.retries)) from exc


beat_schedule_add(BEAT_SCHEDULE)
