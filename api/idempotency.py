"""Idempotent creates: the same Idempotency-Key and the same request give the first response, never a second object.

How a create with a key runs (``idempotent_create``), all in one transaction:

1. Insert the ``IdempotencyRecord(client, key)`` first. The unique constraint makes a concurrent request with the
   same key wait on that row until this transaction ends; it then fails to insert and reads the record instead.
2. Run the view's create in a savepoint.
3. A 2xx answer is stored on the record and committed with the object it created. Any other answer rolls the whole
   transaction back, record included: errors are not remembered, so a client may fix the request and retry with the
   same key, and a replay of a bad request is checked again.

A replay with the same key and the same method, path and body returns the stored status and body, with the header
``Idempotent-Replayed: true``. The same key with anything else is refused with 422 ``idempotency_key_reused``.

Calls that talk to the tax platform cannot run inside one transaction (no network call inside a transaction, and the
services commit their intent before they call). They use ``idempotent_call`` instead:

1. Claim the key: insert the record with state ``in_progress`` and commit it at once (nothing else in that
   transaction). A concurrent request with the same key and request then finds the claim and is answered 409
   ``idempotency_in_progress`` with ``Retry-After``; a different request with the key is 422 as above.
2. Run the view's handler outside any atomic block: the services open their own short transactions around the
   channel call. The handler gets the claim, whose ``serial`` is stable for the key: the services use it as their
   request number, so running the same claim again resumes what was committed instead of doing it twice.
3. A 2xx answer is stored on the record (``completed``) and replayed from then on. Any other answer releases the claim
   (the record is deleted) so that the client may fix the request and retry with the same key.

A process that dies between 1 and 3 leaves the claim ``in_progress``; once it is older than
``API_IDEMPOTENCY_STALE_SECONDS`` the next request with the key and the same request takes it over and runs the
handler again (``resumed``), which is safe because the services are idempotent by the claim's serial. A bug (an
exception that is not an API error) leaves the claim resumable at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api.errors import ApiError
from api.models import IdempotencyRecord, IdempotencyState
from api.permissions import client_of

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _file_digest(upload: UploadedFile) -> dict[str, Any]:
    """An uploaded file by its name, size and content: the same name with other bytes is another request."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return {"name": upload.name, "size": upload.size, "sha256": digest.hexdigest()}


def _jsonable(value: Any) -> Any:
    return _file_digest(value) if isinstance(value, UploadedFile) else str(value)


def request_fingerprint(request) -> str:
    data: Any = request.data
    if hasattr(data, "lists"):  # a QueryDict (a multipart body: its files are in it too)
        data = {k: v for k, v in data.lists()}
    canonical = json.dumps(
        {"method": request.method, "path": request.path, "body": data},
        sort_keys=True,
        ensure_ascii=False,
        default=_jsonable,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_hash != fingerprint or record.response_status is None:
        raise ApiError("idempotency_key_reused", status_code=422)
    return Response(record.response_body, status=record.response_status, headers={REPLAYED_HEADER: "true"})


class _UnsuccessfulError(Exception):
    def __init__(self, response: Response):
        self.response = response


def idempotent_create(request, view, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` (the view's create) at most once per (client, Idempotency-Key)."""
    key = request.headers.get(HEADER)
    client = client_of(request)
    if key is None or client is None:
        return handler()
    if not _KEY.match(key):
        raise ApiError("idempotency_key_invalid", status_code=400)

    fingerprint = request_fingerprint(request)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    client=client, key=key, method=request.method, path=request.path[:300], request_hash=fingerprint
                )
        except IntegrityError:
            # Someone used this key before, or is using it right now: in that case the insert above waited for
            # their transaction to finish, and their record (with its response) is now visible.
            existing = IdempotencyRecord.objects.select_for_update().filter(client=client, key=key).first()
            if existing is None:  # pragma: no cover - the other request rolled back between our insert and read
                raise ApiError("idempotency_key_reused", status_code=422) from None
            return _replay(existing, fingerprint)

        try:
            with transaction.atomic():
                response = handler()
                if not 200 <= response.status_code < 300:
                    raise _UnsuccessfulError(response)
        except _UnsuccessfulError as failed:
            transaction.set_rollback(True)
            return failed.response
        except Exception as exc:  # noqa: BLE001 - turned into the API's error response, or re-raised by DRF
            transaction.set_rollback(True)
            return view.handle_exception(exc)

        record.response_status = response.status_code
        record.response_body = json.loads(JSONRenderer().render(response.data) or b"null")
        record.save(update_fields=["response_status", "response_body"])
        return response


# --- calls that reach the platform: claim, commit, call, store ------------------------------------------------------

RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Claim:
    """A committed claim on an Idempotency-Key: ``serial`` is stable for the key (the services' request number);
    ``resumed`` says the claim was taken over from an earlier run that did not finish."""

    record: IdempotencyRecord | None
    serial: str
    resumed: bool = False


def stale_after() -> timedelta:
    return timedelta(seconds=max(1, int(getattr(settings, "API_IDEMPOTENCY_STALE_SECONDS", 600))))


def _serial(record: IdempotencyRecord) -> str:
    return f"GXAPI{record.pk:017d}"


def in_progress_error(wait: int) -> ApiError:
    error = ApiError("idempotency_in_progress", status_code=409)
    error.wait = max(1, wait)  # the exception handler turns it into Retry-After
    return error


def _claim(*, client, key: str, request, fingerprint: str) -> Claim | Response:
    """Insert or take over the record, committed before the handler runs; a Response when there is nothing to run."""
    now = timezone.now()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                client=client, key=key, method=request.method, path=request.path[:300], request_hash=fingerprint,
                state=IdempotencyState.IN_PROGRESS, claimed_at=now, attempts=1)
        return Claim(record=record, serial=_serial(record))
    except IntegrityError:
        pass
    with transaction.atomic():
        existing = IdempotencyRecord.objects.select_for_update().filter(client=client, key=key).first()
        if existing is None:  # released by its request between our insert and this read: the client may retry
            raise in_progress_error(1)
        if existing.request_hash != fingerprint:
            raise ApiError("idempotency_key_reused", status_code=422)
        if existing.state == IdempotencyState.COMPLETED:
            return _replay(existing, fingerprint)
        claimed = existing.claimed_at
        if claimed is not None and claimed > now - stale_after():
            remaining = (claimed + stale_after() - now).total_seconds()
            raise in_progress_error(min(RETRY_AFTER_SECONDS, math.ceil(remaining)))
        existing.claimed_at = now
        existing.attempts += 1
        existing.save(update_fields=["claimed_at", "attempts"])
    return Claim(record=existing, serial=_serial(existing), resumed=True)


def idempotent_call(request, view, handler: Callable[[Claim], Response]) -> Response:
    """Run ``handler`` (an action that reaches the tax platform) at most once per (client, Idempotency-Key), never
    inside a transaction of ours (see the module's docstring). Without a key the handler runs once with an empty
    serial (the services then number the request themselves)."""
    key = request.headers.get(HEADER)
    client = client_of(request)
    if key is None or client is None:
        return handler(Claim(record=None, serial=""))
    if not _KEY.match(key):
        raise ApiError("idempotency_key_invalid", status_code=400)

    claim = _claim(client=client, key=key, request=request, fingerprint=request_fingerprint(request))
    if isinstance(claim, Response):
        return claim
    record = claim.record
    assert record is not None
    try:
        response = handler(claim)
    except Exception as exc:  # noqa: BLE001 - an API error becomes its response; anything else is re-raised (500)
        try:
            response = view.handle_exception(exc)
        except Exception:
            # A bug, perhaps after a service committed its intent: keep the claim, resumable at once with its serial.
            IdempotencyRecord.objects.filter(pk=record.pk).update(claimed_at=None)
            raise
    if not 200 <= response.status_code < 300:
        IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyState.IN_PROGRESS).delete()
        return response
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyState.COMPLETED, response_status=response.status_code,
        response_body=json.loads(JSONRenderer().render(response.data) or b"null"))
    return response


def purge_expired(*, now=None) -> int:
    """Delete Idempotency-Key records older than ``API_IDEMPOTENCY_KEEP_HOURS`` (24): a client retries within
    minutes, and the table must not grow with every create call forever. Returns how many were deleted."""
    keep = timedelta(hours=max(1, int(getattr(settings, "API_IDEMPOTENCY_KEEP_HOURS", 24))))
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=(now or timezone.now()) - keep).delete()
    return deleted
