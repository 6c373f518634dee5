"""Celery tasks: ids in, a service call, retries with exponential backoff. No logic of their own."""

from __future__ import annotations

from celery import shared_task

from delivery import rendering, services

MAX_RETRIES = 6


@shared_task(ignore_result=True)
def invoice_file_render(file_id: int) -> None:
    rendering.invoice_file_render(file_id)


@shared_task(bind=True, ignore_result=True, max_retries=MAX_RETRIES)
def delivery_send(self, delivery_id: int) -> None:
    final = self.request.retries >= self.max_retries
    try:
        services.delivery_attempt(delivery_id, final=final)
    except services.DeliveryRetry as exc:
        raise self.retry(exc=exc, countdown=services.retry_countdown(self.request.retries)) from exc


@shared_task(bind=True, ignore_result=True, max_retries=MAX_RETRIES + 2)
def webhook_deliver(self, webhook_delivery_id: int) -> None:
    final = self.request.retries >= self.max_retries
    try:
        services.webhook_attempt(webhook_delivery_id, final=final)
    except services.DeliveryRetry as exc:
        raise self.retry(exc=exc, countdown=services.retry_countdown(self.request.retries)) from exc
