"""Nuonuo's result callbacks: the endpoint behind ``NUONUO_CALLBACK_URL``.

Nuonuo POSTs to ``<NUONUO_CALLBACK_URL>/<entity id>/<token>/`` when an order's result is known (the address and its
check are the kernel's: ``invoicing.channels.nuonuo_callback``). The endpoint

1. refuses what does not check out (not a POST, too large, an entity not on the Nuonuo channel, a wrong token, a form
   that is not an issue-result callback), always with the same short answer and nothing written;
2. asks Nuonuo for the order's result (``query_issue``: the pushed content is a hint, never trusted), and
3. records it through ``services.apply_result``, the poller's own function: issued → the invoice, failed → 开票失败,
   pending → wait. Recording is idempotent, so a callback and a poll for the same invoice, or a repeated callback,
   make one invoice.

It answers ``CALLBACK_ANSWER`` (``{"status": "0000", ...}``) once the result is recorded, or when there is nothing of
ours to record (an order that is not an application's, such as the red invoice Nuonuo issues from a red-letter form:
the red-letter poller records those). When Nuonuo cannot be asked right now, or recording fails, it answers an error
so that Nuonuo may try again; polling remains the safety net either way.

Each accepted callback is one row in the integration log (operation ``callback``, bodies masked like every call).
The address's token is a secret: it is masked in every log (``invoicing.redaction``) and never written anywhere.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Final

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from invoicing.channels import get_channel
from invoicing.channels.base import ChannelRejected, ChannelUnavailable, IssueResult
from invoicing.channels.log import record_call
from invoicing.channels.nuonuo_callback import Callback, CallbackRefused, callback_verify
from invoicing.channels.nuonuo_protocol import CALLBACK_ANSWER
from invoicing.models import ChannelCode, Taxpayer
from issuing.applications.models import InvoiceApplication
from issuing.platform.services import NOT_FOUND_CODE, apply_result

logger = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 64 * 1024  # an issue-result callback is a few hundred bytes
REFUSED_ANSWER: Final[Mapping[str, str]] = {"status": "9999", "message": "refused"}
RETRY_ANSWER: Final[Mapping[str, str]] = {"status": "9998", "message": "try again later"}


def _form(request: HttpRequest) -> dict[str, str]:
    """The callback's fields: a form (what Nuonuo sends), or a JSON object of strings."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in data.items()}
    return {key: request.POST.get(key, "") for key in request.POST}


def _content(form: Mapping[str, str]) -> object:
    try:
        return json.loads(form.get("content") or "{}")
    except ValueError:
        return {}


def _refused(reason: str, *, taxpayer_id: int) -> JsonResponse:
    # The reason goes to the application log only (never to the caller); it names no secret.
    logger.warning("nuonuo callback refused for entity #%s: %s", taxpayer_id, reason)
    return JsonResponse(dict(REFUSED_ANSWER), status=403, json_dumps_params={"ensure_ascii": False})


def _log(taxpayer: Taxpayer, checked: Callback, form: Mapping[str, str], *, started: float, outcome: str,
         message: str, answer: Mapping[str, str], status: int) -> None:
    record_call(
        taxpayer=taxpayer, channel=ChannelCode.NUONUO, transport="callback", operation="callback",
        serial=checked.serial, duration_ms=int((time.monotonic() - started) * 1000), outcome=outcome,
        http_status=status, message=message,
        request_body={"operater": form.get("operater", ""), "orderno": checked.serial, "pushed": _content(form)},
        response_body=dict(answer),
    )


def nuonuo_callback_handle(*, taxpayer_id: int, token: str, form: Mapping[str, str]) -> tuple[int, Mapping[str, str]]:
    """What the endpoint answers (HTTP status, body) to a callback for this entity, having recorded its result."""
    started = time.monotonic()
    taxpayer = Taxpayer.objects.filter(pk=taxpayer_id, channel=ChannelCode.NUONUO).first()
    if taxpayer is None:
        raise CallbackRefused("no entity on the Nuonuo channel with this id")
    checked = callback_verify(taxpayer=taxpayer, token=token, form=form)
    application_id = (InvoiceApplication.objects.filter(taxpayer=taxpayer, issue_serial=checked.serial)
                      .values_list("pk", flat=True).first())

    def answer(status: int, body: Mapping[str, str], *, outcome: str, message: str) -> tuple[int, Mapping[str, str]]:
        _log(taxpayer, checked, form, started=started, outcome=outcome, message=message, answer=body, status=status)
        return status, body

    if application_id is None:
        return answer(200, CALLBACK_ANSWER, outcome="ok", message="not an application's order: left to the pollers")
    try:
        result: IssueResult = get_channel(taxpayer).query_issue(checked.serial)
    except ChannelUnavailable as exc:
        return answer(503, RETRY_ANSWER, outcome="unavailable", message=f"result query unavailable ({exc.kind})")
    except ChannelRejected as exc:
        if exc.code == NOT_FOUND_CODE:
            return answer(200, CALLBACK_ANSWER, outcome="ok", message="the platform does not know the order")
        return answer(503, RETRY_ANSWER, outcome="rejected", message=f"result query refused ({exc.code})")
    try:
        outcome = apply_result(application_id=application_id, result=result)
    except Exception:  # noqa: BLE001 - the poller records it later; Nuonuo may repeat the callback meanwhile
        logger.exception("nuonuo callback: could not record the result of %s", checked.serial)
        return answer(500, RETRY_ANSWER, outcome="error", message="could not record the result")
    return answer(200, CALLBACK_ANSWER, outcome="ok", message=f"result {result.status}: {outcome}")


@csrf_exempt  # a server-to-server POST; the address's token is its proof
@require_POST
def nuonuo_callback(request: HttpRequest, taxpayer_id: int, token: str) -> JsonResponse:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = MAX_BODY_BYTES + 1
    if length > MAX_BODY_BYTES:
        return _refused("body too large", taxpayer_id=taxpayer_id)
    try:
        form = _form(request)
    except (ValueError, UnicodeDecodeError, SuspiciousOperation, MultiPartParserError):
        return _refused("unreadable body", taxpayer_id=taxpayer_id)
    try:
        status, body = nuonuo_callback_handle(taxpayer_id=taxpayer_id, token=token, form=form)
    except CallbackRefused as exc:
        return _refused(exc.reason, taxpayer_id=taxpayer_id)
    return JsonResponse(dict(body), status=status, json_dumps_params={"ensure_ascii": False})
