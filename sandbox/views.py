"""The platform's signed JSON API: one POST endpoint per operation.

Answers: HTTP 200 with ``{"code": "0000", "message": "成功", "data": {...}}`` on success and
``{"code": "<code>", "message": "<中文>"}`` for business refusals (as providers do); HTTP 401 for signature
failures; 429 when rate limited; 500/503 for injected server errors; 504 for time-outs (before or after processing).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import faults, services
from sandbox.models import SandboxAccount
from sandbox.services import SandboxDuplicate, SandboxError
from sandbox.signing import SignatureError, verify

Handler = Callable[[SandboxAccount, dict[str, Any]], Any]


def _answer(code: str, message: str, data: Any = None, *, status: int = 200) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return JsonResponse(body, status=status, encoder=DjangoJSONEncoder, json_dumps_params={"ensure_ascii": False})


def endpoint(operation: str, *, duplicates: bool = False) -> Callable[[Handler], Callable]:
    """Signature check, faults, one transaction around the handler, the envelope."""

    def wrap(handler: Handler) -> Callable:
        @csrf_exempt
        @wraps(handler)
        def view(request: HttpRequest) -> JsonResponse:
            if request.method != "POST":
                return _answer("3001", "只支持POST请求", status=405)
            body = request.body
            try:
                account = verify(
                    app_key=request.headers.get("X-App-Key", ""),
                    timestamp=request.headers.get("X-Timestamp", ""),
                    nonce=request.headers.get("X-Nonce", ""),
                    signature=request.headers.get("X-Signature", ""),
                    body=body,
                )
            except SignatureError as exc:
                return _answer(exc.code, exc.message, status=401)
            decision = faults.decide(account, request.headers.get("X-Sandbox-Fault", ""))
            if decision.latency_ms:
                time.sleep(decision.latency_ms / 1000)
            if "rate_limit" in decision:
                return _answer("1009", "请求过于频繁，请稍后再试", status=429)
            if "session" in decision:
                return _answer("1005", "电子税务局会话已失效，请重新登录")
            if "error" in decision:
                return _answer("5000", "系统繁忙", status=503)
            if "timeout_before" in decision:
                return _answer("5040", "网关超时", status=504)
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                return _answer("3001", "请求体不是合法的JSON")
            if not isinstance(payload, dict):
                return _answer("3001", "请求体应为JSON对象")
            try:
                with transaction.atomic():
                    data = handler(account, payload)
            except SandboxDuplicate as exc:
                return _answer(exc.code, exc.message, {"serial": exc.serial})
            except SandboxError as exc:
                return _answer(exc.code, exc.message)
            # The work is committed. From here on the caller may never learn of it.
            if "timeout_after" in decision:
                return _answer("5040", "网关超时", status=504)
            if duplicates and "duplicate" in decision and isinstance(data, dict) and data.get("serial"):
                return _answer("2001", f"请求流水号重复：{data['serial']}", {"serial": data["serial"]})
            return _answer("0000", "成功", data)

        view.operation = operation  # type: ignore[attr-defined]
        return view

    return wrap


def _date(payload: dict, key: str) -> date:
    try:
        return date.fromisoformat(str(payload.get(key, "")))
    except ValueError:
        raise SandboxError("3001", f"日期格式应为YYYY-MM-DD：{key}") from None


@endpoint("issue", duplicates=True)
def issue(account, payload):
    return services.invoice_to_dict(services.invoice_submit(account=account, payload=payload))


@endpoint("issue_query")
def issue_query(account, payload):
    return services.invoice_to_dict(services.invoice_by_serial(account, str(payload.get("serial", ""))))


@endpoint("issued")
def issued(account, payload):
    return {"items": [services.invoice_to_dict(i) for i in services.issued_on(account=account, day=_date(payload, "day"))]}


@endpoint("red_form_apply")
def red_form_apply(account, payload):
    return services.red_form_to_dict(services.red_form_apply(account=account, payload=payload))


@endpoint("red_form_query")
def red_form_query(account, payload):
    return services.red_form_to_dict(services.red_form_get(account=account, form_no=str(payload.get("form_no", ""))))


@endpoint("red_form_confirm")
def red_form_confirm(account, payload):
    form = services.red_form_confirm(account=account, form_no=str(payload.get("form_no", "")))
    return services.red_form_to_dict(form)


@endpoint("red_form_reject")
def red_form_reject(account, payload):
    form = services.red_form_reject(account=account, form_no=str(payload.get("form_no", "")))
    return services.red_form_to_dict(form)


@endpoint("red_form_revoke")
def red_form_revoke(account, payload):
    form = services.red_form_revoke(account=account, form_no=str(payload.get("form_no", "")))
    return services.red_form_to_dict(form)


@endpoint("red_form_inbound")
def red_form_inbound(account, payload):
    forms = services.red_forms_inbound(account=account, status=str(payload.get("status") or ""))
    return {"items": [services.red_form_to_dict(f) for f in forms]}


@endpoint("void")
def void(account, payload):
    inv = services.invoice_void(account=account, number=str(payload.get("number", "")))
    return {"number": inv.number, "status": inv.status}


@endpoint("quota")
def quota(account, payload):
    q = services.quota_get(account=account, period=str(payload.get("period") or ""))
    return {"credit_code": account.credit_code, "period": q.period, "total": str(q.total), "used": str(q.used),
            "remaining": str(q.remaining)}


@endpoint("files")
def files(account, payload):
    formats = payload.get("formats") or ["pdf", "ofd", "xml"]
    content, missing = services.invoice_files(account=account, number=str(payload.get("number", "")), formats=formats)
    return {"number": payload.get("number"), "files": {k: base64.b64encode(v).decode() for k, v in content.items()},
            "missing": missing}


@endpoint("verify")
def verify_invoice(account, payload):
    code, message, inv, differences = services.invoice_verify_detailed(account=account, payload=payload)
    return {"result": code, "message": message, "invoice": services.invoice_to_dict(inv) if inv else None,
            "differences": differences}


@endpoint("received")
def received(account, payload):
    items, total = services.received_list(
        account=account, date_from=_date(payload, "date_from"), date_to=_date(payload, "date_to"),
        page=int(payload.get("page") or 1), page_size=int(payload.get("page_size") or 100),
    )
    return {"items": [services.invoice_to_dict(i) for i in items], "total": total,
            "page": int(payload.get("page") or 1), "page_size": int(payload.get("page_size") or 100)}


@endpoint("received_book")
def received_book(account, payload):
    inv = services.invoice_book(account=account, payload=payload)
    return {"number": inv.number, "booked": inv.buyer_booked, "status": inv.status}


@endpoint("deduction_select")
def deduction_select(account, payload):
    results = services.deduction_select(account=account, payload=payload)
    return {"period": payload.get("period"),
            "results": [{"number": n, "ok": ok, "code": c, "message": m} for n, ok, c, m in results]}


def _period(payload) -> str:
    return str(payload.get("period") or "")


@endpoint("deduction_statistics_apply")
def deduction_statistics_apply(account, payload):
    stats = services.deduction_statistics_apply(account=account, period=_period(payload))
    return services.statistics_to_dict(stats.period, stats)


@endpoint("deduction_statistics_undo")
def deduction_statistics_undo(account, payload):
    services.deduction_statistics_undo(account=account, period=_period(payload))
    return services.statistics_to_dict(_period(payload), None)


@endpoint("deduction_confirm")
def deduction_confirm(account, payload):
    stats = services.deduction_confirm(account=account, period=_period(payload))
    return services.statistics_to_dict(stats.period, stats)


@endpoint("deduction_confirm_undo")
def deduction_confirm_undo(account, payload):
    stats = services.deduction_confirm(account=account, period=_period(payload), undo=True)
    return services.statistics_to_dict(stats.period, stats)


@endpoint("deduction_statistics_query")
def deduction_statistics_query(account, payload):
    period = _period(payload)
    return services.statistics_to_dict(period, services.deduction_statistics_query(account=account, period=period))
