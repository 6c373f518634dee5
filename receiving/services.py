"""Writes to the pool: one keyword-only service per action, each checking the actor, locking what it changes in a
short transaction and recording the event. Admin pages, the upload job, the command line and the API only call these.

Collecting a file (``collection_add_file``):

1. its SHA-256: a file the entity already holds is a *duplicate* (no second copy, no second record);
2. its format by content (a ``.pdf`` that is XML is read as XML), then the kernel reader for that format
   (``receiving.reading``): a refusal (corrupt, encrypted, hostile, not an invoice) is *rejected* with the rule;
3. its key (domain.md §2.3): unreadable or unsure → the file is kept and *sent to review* without a record
   ("needs entry"), never filed under a plausible wrong number;
4. the record with that key in the entity's pool: none → *created*; one → the file is *attached*, each key field
   compared: a difference sends the record to review with both values, it never overwrites; blanks are filled;
5. the parties against our entities: seller ours and buyer not this entity → read the wrong way round → review;
   buyer another company → kept and flagged (``other_buyer``) for the rules that come later.

Slow work (hashing, reading, storing the bytes) happens before the transaction; the transaction writes the carrier,
the record, its lines and sources, the batch's item and counters, and the events, or nothing. A file that fails in
any way becomes a *rejected* item with its reason, and the batch goes on.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invoicing.actors import Actor, SystemActor, actor_label, actor_user
from invoicing.documents.crosscheck import Checker
from invoicing.documents.model import (
    MISSING,
    UNCERTAIN,
    InvoiceDocument,
    InvoiceLine,
    InvoiceParty,
    ReadResult,
    ReviewReason,
)
from invoicing.events import event_record
from invoicing.ids import QrPayloadError, compact_id, is_acceptable_tax_id, parse_invoice_qr
from invoicing.models import Taxpayer
from invoicing.scoping import user_may_act_on
from invoicing.validators import invoice_rate_problem, money_range_problem
from receiving import reading
from receiving.models import (
    LEGACY_KINDS,
    OUTCOME_COUNTERS,
    TICKET_KINDS,
    Carrier,
    Collection,
    CollectionItem,
    CollectionStatus,
    DataSource,
    Method,
    Outcome,
    PlatformStatus,
    ReceivedInvoice,
    ReceivedInvoiceLine,
    ReceivedKind,
    ReviewState,
    Source,
    UseState,
    carrier_path,
)
from receiving.reading import TRUST, InvoiceValues
from receiving.signals import invoice_arrived_on_commit
from receiving.stats import received_rollup

logger = logging.getLogger(__name__)

P_COLLECT = "receiving.add_receivedinvoice"
P_REVIEW = "receiving.review_receivedinvoice"

FEN = Decimal("0.01")

# Where a record's review reason comes from: its reader, a disagreement between carriers, our entities, or a scan.
ORIGIN_READER, ORIGIN_CONFLICT, ORIGIN_ENTITY, ORIGIN_NEEDS_FILE = "reader", "conflict", "entity", "needs_file"

FIELD_WORDS = {
    "kind": _("票种"), "number": _("发票号码"), "code": _("发票代码"), "issue_date": _("开票日期"),
    "check_code": _("校验码"), "seller_name": _("销售方名称"), "seller_tax_id": _("销售方纳税人识别号"),
    "buyer_name": _("购买方名称"), "buyer_tax_id": _("购买方纳税人识别号"), "amount": _("合计金额"),
    "tax": _("合计税额"), "total": _("价税合计"), "lines": _("明细"), "document": _("文件"),
}

# The review reasons' rule codes in words (复核原因 → 规则): the readers' checks (invoicing.documents: crosscheck,
# pdf, pdfface; receiving.reading) and the pool's own. tests/receiving/test_review_words.py checks that every code
# recorded anywhere has its label here.
REVIEW_CODE_WORDS = {
    "missing": _("未能读出"),
    "sum_mismatch": _("金额加税额与价税合计不符"),
    "lines_missing": _("未读到明细行"),
    "lines_sum": _("明细合计与合计数不符"),
    "lines_tax_sum": _("明细税额合计与合计税额不符"),
    "line_rate": _("明细税额与税率不符"),
    "total_rate": _("按税率合计的税额不符"),
    "words_unreadable": _("大写金额无法识别"),
    "words_mismatch": _("大写金额与小写不符"),
    "qr_mismatch": _("与二维码不符"),
    "tax_id_format": _("纳税人识别号格式不对"),
    "not_corroborated": _("金额无法核对"),
    "position": _("按版面位置读取"),
    "party_by_position": _("购销方按版面位置判断"),
    "several_totals": _("多页合计不一致"),
    "needs_entry": _("需人工录入"),
    "no_text_mapping": _("文字层无法识别"),
    "qr_type_unknown": _("二维码票种未收录"),
    "needs_file": _("需上传发票文件或查验"),
    "wrong_way": _("购销双方可能读反"),
    "carrier_conflict": _("文件之间不一致"),
}


def max_file_bytes() -> int:
    return int(getattr(settings, "RECEIVING_MAX_FILE_BYTES", 20 * 1024 * 1024))


# --- permissions ---------------------------------------------------------------------------------------------------


def authorize(actor: Actor, taxpayer_id: int | None, *perms: str) -> None:
    """Raise PermissionDenied unless ``actor`` holds ``perms`` on the entity (the system is trusted)."""
    if actor is None or isinstance(actor, SystemActor):  # is_system(actor), spelled out so that mypy narrows
        return
    # Only a user row holds permissions (an API client principal does not: it acts through its own checks).
    if not getattr(actor, "is_authenticated", False) or not actor.is_active or not isinstance(actor, User):
        raise PermissionDenied(gettext("未登录或账号已停用"))
    if perms and not all(actor.has_perm(p) for p in perms):
        raise PermissionDenied(gettext("没有执行此操作的权限"))
    if not user_may_act_on(actor, taxpayer_id):
        raise PermissionDenied(gettext("无权操作该主体的数据"))


# --- parties -------------------------------------------------------------------------------------------------------


def tax_ids_match(a: str, b: str) -> bool:
    """Equal ids, or an old 15-character 税务登记证号 and the 18-character USCC it became (region + organisation
    code: positions 3–17 of the USCC, domain.md §9.1 and §9.3)."""
    a, b = compact_id(a or ""), compact_id(b or "")
    if not a or not b:
        return False
    if a == b:
        return True
    if len(a) == 15 and len(b) == 18:
        return b[2:17] == a
    if len(a) == 18 and len(b) == 15:
        return a[2:17] == b
    return False


def _norm_name(value: str) -> str:
    return unicodedata.normalize("NFKC", value or "").replace(" ", "").strip()


def _is_party(name: str, tax_id: str, entity: Taxpayer) -> bool:
    if tax_id:
        return tax_ids_match(tax_id, entity.credit_code)
    return bool(name) and _norm_name(name) == _norm_name(entity.name)


@dataclass(frozen=True)
class PartyCheck:
    reasons: list[dict[str, Any]]  # wrong way round: to review
    other_buyer: bool  # addressed to someone else: kept and flagged
    note: str = ""


def parties_check(values: InvoiceValues, entity: Taxpayer) -> PartyCheck:
    """The buyer against the collecting entity and the seller against all our entities (issue 15)."""
    buyer_known = bool(values.buyer_tax_id or values.buyer_name)
    buyer_is_entity = _is_party(values.buyer_name, values.buyer_tax_id, entity)
    ours = [t for t in Taxpayer.objects.only("id", "name", "credit_code")
            if _is_party(values.seller_name, values.seller_tax_id, t)]
    if ours and buyer_known and not buyer_is_entity:
        message = gettext("销售方是我方主体“%(ours)s”，购买方却是“%(buyer)s”：可能把购销双方读反了，或这是我方开出的发票") % {
            "ours": ours[0].name, "buyer": values.buyer_name or values.buyer_tax_id}
        return PartyCheck([{"field": "buyer_name", "code": "wrong_way", "message": message, "origin": ORIGIN_ENTITY}],
                          False)
    if buyer_known and not buyer_is_entity and ("buyer_tax_id" in values.sure or "buyer_name" in values.sure):
        note = gettext("购买方“%(buyer)s”不是本主体，已保留并标记") % {
            "buyer": " ".join(x for x in (values.buyer_name, values.buyer_tax_id) if x)}
        return PartyCheck([], True, note)
    return PartyCheck([], False)


# --- collections ---------------------------------------------------------------------------------------------------


def collection_start(*, taxpayer: Taxpayer, method: str, actor: Actor, note: str = "", total: int = 0,
                     queued: bool = False) -> Collection:
    """Open a batch. ``queued``: the files are staged and a job will process them (upload), else items are added
    as they come (scanner, command line, API, manual entry)."""
    authorize(actor, taxpayer.pk, P_COLLECT)
    if method not in Method.values:
        raise ValidationError({"method": gettext("未知的采集方式")})
    collection = Collection(taxpayer=taxpayer, method=method, created_by=actor_user(actor),
                            actor_label=actor_label(actor), note=note[:300], total=total,
                            status=CollectionStatus.QUEUED if queued else CollectionStatus.OPEN)
    collection.save()
    event_record(obj=collection, action="collection_start", actor=actor, to_state=collection.status,
                 data={"method": method, "total": total}, taxpayer=taxpayer)
    return collection


def collection_begin_processing(*, collection: Collection, actor: Actor) -> Collection:
    """The upload job picks its batch up: queued → running. Returns the batch unchanged if it is not queued (a
    duplicated or retried task)."""
    with transaction.atomic():
        locked = Collection.objects.select_for_update().get(pk=collection.pk)
        if locked.status != CollectionStatus.QUEUED:
            return locked
        locked.begin_processing()
        locked.save(update_fields=["status"])
        event_record(obj=locked, action="begin_processing", actor=actor, from_state=CollectionStatus.QUEUED,
                     to_state=locked.status, taxpayer=locked.taxpayer)
    return locked


def collection_finish(*, collection: Collection, actor: Actor, message: str = "") -> Collection:
    """Close a batch: its counts are final. ``message``: a summary the batch's page shows."""
    with transaction.atomic():
        locked = Collection.objects.select_for_update().get(pk=collection.pk)
        authorize(actor, locked.taxpayer_id, P_COLLECT)
        if locked.status == CollectionStatus.DONE:
            return locked
        before = locked.status
        locked.complete(at=timezone.now())
        locked.total = max(locked.total, locked.processed)
        if message:
            locked.message = message[:2000]
        locked.save(update_fields=["status", "finished_at", "total", "message"])
        event_record(obj=locked, action="complete", actor=actor, from_state=before, to_state=locked.status,
                     data=_counts(locked), taxpayer=locked.taxpayer)
    return locked


def collection_fail(*, collection: Collection, actor: Actor, message: str) -> Collection:
    """A job that could not go on (its staged files vanished, the worker crashed): the batch says why."""
    with transaction.atomic():
        locked = Collection.objects.select_for_update().get(pk=collection.pk)
        if locked.status in (CollectionStatus.DONE, CollectionStatus.FAILED):
            return locked
        before = locked.status
        locked.abort(at=timezone.now(), message=message[:2000])
        locked.save(update_fields=["status", "finished_at", "message"])
        event_record(obj=locked, action="abort", actor=actor, from_state=before, to_state=locked.status,
                     reason=message[:500], taxpayer=locked.taxpayer)
    return locked


def _counts(collection: Collection) -> dict[str, int]:
    return {outcome: getattr(collection, counter) for outcome, counter in OUTCOME_COUNTERS.items()}


def _open_for_items(collection: Collection) -> None:
    if collection.status not in (CollectionStatus.OPEN, CollectionStatus.RUNNING):
        raise ValidationError(gettext("采集批次已结束，不能再添加"))


def _item_create(collection: Collection, *, name: str, outcome: str, rule: str = "", reason: str = "",
                 detail: dict[str, Any] | None = None, invoice: ReceivedInvoice | None = None,
                 carrier: Carrier | None = None) -> CollectionItem:
    """Append an item to a batch whose row the caller holds locked, and count it."""
    collection.processed += 1
    counter = OUTCOME_COUNTERS[Outcome(outcome)]
    setattr(collection, counter, getattr(collection, counter) + 1)
    collection.total = max(collection.total, collection.processed)
    collection.save(update_fields=["processed", "total", counter])
    return CollectionItem.objects.create(
        collection=collection, position=collection.processed, name=name[:300], outcome=outcome, rule=rule,
        reason=reason, detail=detail or {}, invoice=invoice, carrier=carrier)


def collection_item_reject(*, collection: Collection, name: str, rule: str, reason: str, actor: Actor) -> CollectionItem:
    """Record an item refused before any reader saw it (an archive over the limits, a ZIP inside a ZIP)."""
    authorize(actor, collection.taxpayer_id, P_COLLECT)
    with transaction.atomic():
        locked = Collection.objects.select_for_update().get(pk=collection.pk)
        _open_for_items(locked)
        item = _item_create(locked, name=name, outcome=Outcome.REJECTED, rule=rule,
                            reason=_named(name, reason, rule))
    _sync(collection, locked)
    return item


def _sync(stale: Collection, fresh: Collection) -> None:
    """Give the caller's instance the batch's new counts (services lock a fresh copy)."""
    for f in ("processed", "total", *OUTCOME_COUNTERS.values()):
        setattr(stale, f, getattr(fresh, f))


def _joined(reasons: Sequence[dict[str, Any]]) -> str:
    """The reasons' messages once each, in order (a reader may give one message for several fields)."""
    return "；".join(dict.fromkeys(r["message"] for r in reasons))


def _named(name: str, message: str, rule: str) -> str:
    """A reason that names the file: “发票.pdf：PDF 已加密…”. The rule's code is the item's ``rule`` (for support and
    the API), not part of what a person reads."""
    return gettext("%(name)s：%(message)s") % {"name": name, "message": message}


# --- files ---------------------------------------------------------------------------------------------------------


def _store(sha256: str, fmt: str, data: bytes) -> tuple[str, bool]:
    """Store the bytes once under their hash's path. Returns (path, whether this call wrote it)."""
    path = carrier_path(sha256, fmt)
    if default_storage.exists(path):
        return path, False
    saved = default_storage.save(path, ContentFile(data))
    if saved != path:  # another process stored the same bytes at the same moment
        default_storage.delete(saved)
        return path, False
    return path, True


def _unstore(path: str) -> None:
    """Remove bytes this call stored when its transaction did not keep a carrier for them."""
    if not Carrier.objects.filter(file=path).exists():
        default_storage.delete(path)


def collection_add_file(*, collection: Collection, name: str, data: bytes, actor: Actor) -> CollectionItem:
    """Collect one file into the batch's entity pool; returns the item with its outcome. Never raises for bad
    input: whatever is wrong with the file is the item's reason."""
    authorize(actor, collection.taxpayer_id, P_COLLECT)
    _open_for_items(collection)
    try:
        return _add_file(collection, name=name, data=data, actor=actor)
    except (PermissionDenied, ValidationError):
        raise
    except Exception:  # noqa: BLE001 - a file must never stop the batch (its stored bytes are already gone)
        logger.exception("collecting %r into batch %s failed", name, collection.pk)
        return collection_item_reject(
            collection=collection, name=name, rule="internal_error", actor=actor,
            reason=gettext("处理时发生内部错误，已记录，请稍后重试或联系管理员"))


def _add_file(collection: Collection, *, name: str, data: bytes, actor: Actor) -> CollectionItem:
    entity = collection.taxpayer
    if not data:
        return collection_item_reject(collection=collection, name=name, rule="empty_file", actor=actor,
                                      reason=gettext("文件为空（0 字节）"))
    if len(data) > max_file_bytes():
        return collection_item_reject(
            collection=collection, name=name, rule="oversize", actor=actor,
            reason=gettext("文件 %(size)s 字节，超过单个文件上限 %(limit)s 字节") % {
                "size": len(data), "limit": max_file_bytes()})
    sha = hashlib.sha256(data).hexdigest()
    existing = Carrier.objects.filter(taxpayer=entity, sha256=sha).select_related("invoice").first()
    if existing is not None:
        return _duplicate(collection, name=name, carrier=existing, actor=actor)

    fmt = reading.sniff_format(data, name)
    ext = reading.extension(name)
    detail: dict[str, Any] = {"sha256": sha, "size": len(data)}
    if fmt is None:
        return collection_item_reject(
            collection=collection, name=name, rule="unknown_format", actor=actor,
            reason=gettext("内容不是 PDF、OFD、XML 或图片（扩展名“%(ext)s”）") % {"ext": ext or "-"})
    if fmt == reading.ARCHIVE:
        return collection_item_reject(
            collection=collection, name=name, rule="zip_in_zip" if "/" in name else "archive", actor=actor,
            reason=gettext("压缩包里的压缩包不展开，请解压后上传") if "/" in name
            else gettext("压缩包请通过上传或命令行整体提交，由系统展开"))
    if ext and reading.EXTENSIONS.get(ext) not in (None, fmt):
        detail["extension_mismatch"] = gettext("扩展名为 .%(ext)s，内容是 %(fmt)s，按内容读取") % {
            "ext": ext, "fmt": fmt.upper()}

    read = reading.read_file(data, fmt)
    if read.refused:
        return collection_item_reject(collection=collection, name=name, rule=read.rule, actor=actor,
                                      reason=read.message)
    result = read.result
    assert result is not None
    values = reading.values_from_result(result) if result.document is not None else None
    problem = _key_unsure(values, result) if values is not None else ""
    stored, created_file = _store(sha, fmt, data)
    try:
        with transaction.atomic():
            locked = Collection.objects.select_for_update().get(pk=collection.pk)
            _open_for_items(locked)
            carrier = Carrier(taxpayer=entity, sha256=sha, size=len(data), format=fmt, file=stored,
                              original_name=name[-255:], reader=read.reader,
                              read_data=_read_data(values, result), needs_review=result.needs_review,
                              review_reasons=[{"field": r.field, "code": r.code, "message": r.message}
                                              for r in result.review])
            try:
                with transaction.atomic():
                    carrier.save()
            except IntegrityError:
                # the same bytes arrived through another batch a moment ago
                existing = Carrier.objects.select_related("invoice").get(taxpayer=entity, sha256=sha)
                item = _duplicate_locked(locked, name=name, carrier=existing, actor=actor)
                created_file = False
            else:
                if values is None or problem:
                    reason = problem or "；".join(dict.fromkeys(r.message for r in result.review)) or gettext("未能读出发票")
                    item = _item_create(locked, name=name, outcome=Outcome.REVIEW, rule="needs_entry",
                                        reason=_named(name, gettext("需人工录入：%(why)s") % {"why": reason},
                                                      "needs_entry"),
                                        detail={**detail, "invoice": values.as_json() if values else None},
                                        carrier=carrier)
                else:
                    source = reading.READER_SOURCE[read.reader]
                    item = _file_into_pool(locked, name=name, values=values, source=source, carrier=carrier,
                                           detail=detail, actor=actor)
    except BaseException:
        if created_file:
            _unstore(stored)
        raise
    _sync(collection, locked)
    return item


def _key_unsure(values: InvoiceValues, result: ReadResult) -> str:
    """Why these values must not key a record: a malformed key, or a key the reader is not sure of."""
    problem = reading.key_problem(values)
    if problem:
        return problem
    for name in ("number", "code", "issue_date"):
        reading_ = result.fields.get(name)
        if name == "code" and not values.code:
            continue
        if reading_ is None or reading_.confidence in (UNCERTAIN, MISSING) or result.reasons_for(name):
            return gettext("%(field)s读取不确定") % {"field": FIELD_WORDS[name]}
    return ""


def _read_data(values: InvoiceValues | None, result: ReadResult) -> dict[str, Any]:
    return {
        "invoice": values.as_json() if values is not None else None,
        "fields": {name: [r.source, r.confidence] for name, r in result.fields.items()},
        "family": result.family,
    }


def _duplicate(collection: Collection, *, name: str, carrier: Carrier, actor: Actor) -> CollectionItem:
    with transaction.atomic():
        locked = Collection.objects.select_for_update().get(pk=collection.pk)
        _open_for_items(locked)
        item = _duplicate_locked(locked, name=name, carrier=carrier, actor=actor)
    _sync(collection, locked)
    return item


def _duplicate_locked(collection: Collection, *, name: str, carrier: Carrier, actor: Actor) -> CollectionItem:
    record = carrier.invoice
    if record is not None:
        _source_add(record, collection, carrier, actor)
        message = gettext("与已收文件完全相同（SHA-256 一致），发票 %(invoice)s 已在发票池") % {"invoice": record}
    else:
        message = gettext("与已收文件完全相同（SHA-256 一致），该文件待人工录入")
    return _item_create(collection, name=name, outcome=Outcome.DUPLICATE, rule="same_file",
                        reason=_named(name, message, "same_file"), detail={"sha256": carrier.sha256},
                        invoice=record, carrier=carrier)


def _source_add(record: ReceivedInvoice, collection: Collection, carrier: Carrier | None, actor: Actor) -> None:
    Source.objects.get_or_create(invoice=record, collection=collection, defaults={
        "method": collection.method, "carrier": carrier, "actor": actor_user(actor),
        "actor_label": actor_label(actor)})


# --- the pool ------------------------------------------------------------------------------------------------------


def _reader_reasons(values: InvoiceValues, carrier: Carrier | None) -> list[dict[str, Any]]:
    cid = carrier.pk if carrier is not None else None
    return [{**r, "origin": ORIGIN_READER, "carrier": cid} for r in values.reasons]


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _same(name: str, old: Any, new: Any) -> bool:
    if name in ("seller_name", "buyer_name"):
        return _norm_name(old) == _norm_name(new)
    if name in ("seller_tax_id", "buyer_tax_id"):
        return tax_ids_match(old, new)
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        try:
            return Decimal(old) == Decimal(new)
        except (InvalidOperation, TypeError):
            return False
    return bool(old == new)


def _shown(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value.quantize(FEN):f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _record_key(values: InvoiceValues) -> dict[str, str]:
    return {"code": values.code, "number": values.number}


def _pool_record_locked(entity: Taxpayer, values: InvoiceValues) -> ReceivedInvoice | None:
    """The entity's pool record with the key fields of ``values``, locked; None when it is not in the pool."""
    return ReceivedInvoice.objects.select_for_update().filter(taxpayer=entity, **_record_key(values)).first()


def _item_in_pool(collection: Collection, *, record: ReceivedInvoice, name: str, values: InvoiceValues, reason: str,
                  actor: Actor) -> CollectionItem:
    """The item for an invoice already in the pool: one more source on the record, nothing overwritten."""
    _source_add(record, collection, None, actor)
    return _item_create(collection, name=name, outcome=Outcome.DUPLICATE, rule="in_pool", reason=reason,
                        detail={"invoice": values.as_json()}, invoice=record)


def _file_into_pool(collection: Collection, *, name: str, values: InvoiceValues, source: str, carrier: Carrier,
                    detail: dict[str, Any], actor: Actor) -> CollectionItem:
    """Create or complete the pool record for a read file (inside the batch's transaction)."""
    entity = collection.taxpayer
    parties = parties_check(values, entity)
    detail = {**detail, "invoice": values.as_json()}
    record = _pool_record_locked(entity, values)
    if record is None:
        reasons = _reader_reasons(values, carrier) + parties.reasons
        try:
            with transaction.atomic():
                record = _record_create(entity, values=values, source=source, reasons=reasons,
                                        other_buyer=parties.other_buyer)
        except IntegrityError:
            record = None
        if record is not None:
            carrier.invoice = record
            carrier.save(update_fields=["invoice"])
            _source_add(record, collection, carrier, actor)
            event_record(obj=record, action="receive", actor=actor, to_state=record.use_state,
                         data={"collection": collection.pk, "method": collection.method, "carrier": carrier.sha256,
                               "source": source, "review": len(reasons)}, taxpayer=entity)
            notes = [parties.note] if parties.note else []
            if detail.get("extension_mismatch"):
                notes.append(detail["extension_mismatch"])
            if reasons:
                message = gettext("已建发票 %(invoice)s，待复核：%(why)s") % {
                    "invoice": record, "why": _joined(reasons)}
                return _item_create(collection, name=name, outcome=Outcome.REVIEW, rule=reasons[0]["code"],
                                    reason=_named(name, message, reasons[0]["code"]), detail=detail,
                                    invoice=record, carrier=carrier)
            return _item_create(collection, name=name, outcome=Outcome.CREATED,
                                rule="other_buyer" if parties.other_buyer else "",
                                reason="；".join(notes), detail=detail, invoice=record, carrier=carrier)
        # created by someone else between our look-up and our insert: attach to it
        record = (ReceivedInvoice.objects.select_for_update()
                  .get(taxpayer=entity, **_record_key(values)))
    return _attach(collection, record=record, name=name, values=values, source=source, carrier=carrier,
                   detail=detail, parties=parties, actor=actor)


def _fit(name: str, value: Any) -> Any:
    """Text cut to its column's length (a reader's garbage must not fail the insert)."""
    limit = getattr(ReceivedInvoice._meta.get_field(name), "max_length", None)
    return value[:limit] if limit and isinstance(value, str) else value


def _record_create(entity: Taxpayer, *, values: InvoiceValues, source: str, reasons: list[dict[str, Any]],
                   other_buyer: bool) -> ReceivedInvoice:
    review = bool(reasons)
    fields = {name: getattr(values, name) for name in reading.VALUE_FIELDS}
    if (values.amount is not None and values.tax is not None and values.total is not None
            and values.amount + values.tax != values.total):
        fields["tax"] = None  # the three disagree (the reasons say so, with the figures): keep no wrong triple
    fields = {name: _fit(name, value) for name, value in fields.items()}
    record = ReceivedInvoice(
        taxpayer=entity, **fields,
        review_state=ReviewState.NEEDS_REVIEW if review else ReviewState.CLEAR,
        use_state=UseState.IN_REVIEW if review else UseState.IN_POOL,
        review_reasons=reasons, other_buyer=other_buyer, data_source=source,
        deductible_tax=deductible_tax(values.kind, amount=values.amount, tax=values.tax, total=values.total),
    )
    record.save()
    _lines_create(record, values.lines)
    received_rollup([record.pk])  # the statistics commit with the record
    invoice_arrived_on_commit(record.pk)  # the receiving rules run once it commits
    return record


def _lines_create(record: ReceivedInvoice, lines: Sequence[dict[str, Any]]) -> None:
    ReceivedInvoiceLine.objects.bulk_create([
        ReceivedInvoiceLine(invoice=record, line_no=i, item_name=(ln.get("item_name") or "")[:300],
                            spec=(ln.get("spec") or "")[:150], unit=(ln.get("unit") or "")[:60],
                            quantity=ln.get("quantity"), unit_price=ln.get("unit_price"), amount=ln["amount"],
                            tax_rate=ln.get("tax_rate"), tax_rate_text=(ln.get("tax_rate_text") or "")[:20],
                            tax=ln.get("tax"), tax_code=(ln.get("tax_code") or "")[:19])
        for i, ln in enumerate(lines, start=1)
    ])


def _attach(collection: Collection, *, record: ReceivedInvoice, name: str, values: InvoiceValues, source: str,
            carrier: Carrier, detail: dict[str, Any], parties: PartyCheck, actor: Actor) -> CollectionItem:
    """Add a carrier to an existing record: fill its blanks, compare the rest, never overwrite a value."""
    entity = collection.taxpayer
    received_rollup([record.pk], sign=-1)  # out of the statistics as stored; back in below as filled
    conflicts: list[dict[str, Any]] = []
    filled: list[str] = []
    ignored: list[str] = []
    for field_name in reading.COMPARED_FIELDS:
        new, old = values.value(field_name), getattr(record, field_name)
        if _blank(new):
            continue
        if _blank(old):
            setattr(record, field_name, _fit(field_name, new))
            filled.append(field_name)
            continue
        if _same(field_name, old, new):
            continue
        if field_name not in values.sure:
            ignored.append(field_name)  # this file's reader is unsure of its own value: it does not contest the record
            continue
        conflicts.append({
            "field": field_name, "code": "carrier_conflict", "origin": ORIGIN_CONFLICT, "carrier": carrier.pk,
            "values": {"record": _shown(old), "file": _shown(new)},
            "message": gettext("%(field)s不一致：本文件（%(fmt)s）为 %(new)s，发票池记录为 %(old)s") % {
                "field": FIELD_WORDS[field_name], "fmt": carrier.get_format_display(), "new": _shown(new),
                "old": _shown(old)},
        })
    if (record.amount is not None and record.tax is not None and record.total is not None
            and record.amount + record.tax != record.total):
        for money_field in ("amount", "tax", "total"):  # filling would make a wrong triple: the conflict says why
            if money_field in filled:
                setattr(record, money_field, None)
                filled.remove(money_field)
    if values.lines and not record.lines.exists():
        _lines_create(record, values.lines)
        filled.append("lines")
    # What this file settles: the reader's doubts about fields it is sure of and agrees with, the whole-document
    # doubts of an image or unmapped text once a readable file arrives, and a scan's need for the file.
    agreed = {f for f in values.sure if f not in {c["field"] for c in conflicts}}
    kept: list[dict[str, Any]] = []
    settled: list[dict[str, Any]] = []
    for reason in record.review_reasons:
        origin, field_name = reason.get("origin"), reason.get("field")
        settles = (
            (origin == ORIGIN_READER and field_name in agreed and field_name not in filled)
            or (origin == ORIGIN_READER and field_name == "document" and values.document_sure)
            or (origin == ORIGIN_NEEDS_FILE and source != DataSource.QR)
        )
        (settled if settles else kept).append(reason)
    fill_reasons = [r for r in _reader_reasons(values, carrier) if r["field"] in filled]
    if settled:
        record.review_reasons = kept
    new_reasons = conflicts + fill_reasons
    if not conflicts and TRUST[source] > TRUST[record.data_source] and values.document_sure:
        record.data_source = source
    if parties.other_buyer and not record.other_buyer and "buyer_tax_id" in filled:
        record.other_buyer = True
    before_use, before_review = record.use_state, record.review_state
    if new_reasons:
        record.flag_for_review(reasons=new_reasons)
        if record.use_state == UseState.IN_POOL:
            record.hold_for_review()
    elif record.review_state == ReviewState.NEEDS_REVIEW and not record.review_reasons:
        record.clear_review()
        if record.use_state == UseState.IN_REVIEW:
            record.release_to_pool()
    record.deductible_tax = record.deductible_tax if record.deductible_tax is not None else deductible_tax(
        record.kind, amount=record.amount, tax=record.tax, total=record.total)
    record.save()
    received_rollup([record.pk])
    carrier.invoice = record
    carrier.save(update_fields=["invoice"])
    _source_add(record, collection, carrier, actor)
    invoice_arrived_on_commit(record.pk)  # filled fields: the receiving rules run again once it commits
    event_record(obj=record, action="carrier_attach", actor=actor,
                 data={"collection": collection.pk, "carrier": carrier.sha256, "format": carrier.format,
                       "filled": filled, "conflicts": [c["field"] for c in conflicts],
                       "settled": [r.get("code") for r in settled]}, taxpayer=entity)
    if before_review != record.review_state:
        action = "flag_for_review" if record.review_state == ReviewState.NEEDS_REVIEW else "clear_review"
        event_record(obj=record, action=action, actor=actor, from_state=before_review, to_state=record.review_state,
                     reason=_joined(new_reasons), taxpayer=entity)
    if before_use != record.use_state:
        action = "hold_for_review" if record.use_state == UseState.IN_REVIEW else "release_to_pool"
        event_record(obj=record, action=action, actor=actor, from_state=before_use, to_state=record.use_state,
                     taxpayer=entity)
    if ignored:
        detail = {**detail, "not_used": ignored}
    if new_reasons:
        message = gettext("已补充到发票 %(invoice)s，但与已有文件不一致，待复核：%(why)s") % {
            "invoice": record, "why": _joined(new_reasons)}
        rule = "carrier_conflict" if conflicts else new_reasons[0]["code"]
        return _item_create(collection, name=name, outcome=Outcome.REVIEW, rule=rule,
                            reason=_named(name, message, rule), detail=detail, invoice=record, carrier=carrier)
    notes = [gettext("已补充到发票 %(invoice)s") % {"invoice": record}]
    if ignored:
        notes.append(gettext("本文件读取不确定的字段未采用：%(fields)s") % {
            "fields": "、".join(str(FIELD_WORDS[f]) for f in ignored)})
    return _item_create(collection, name=name, outcome=Outcome.ATTACHED, reason="；".join(notes), detail=detail,
                        invoice=record, carrier=carrier)


def deductible_tax(kind: str, *, amount: Decimal | None, tax: Decimal | None, total: Decimal | None) -> Decimal | None:
    """可抵扣税额 of a passenger-transport voucher (domain.md §14.6): the printed tax on 数电 tickets; for paper
    tickets 票面金额 ÷ (1 + 9%) × 9% (rail) and (票价 + 燃油附加费) ÷ (1 + 9%) × 9% (air: the total entered must
    exclude the 民航发展基金). Other documents: None (their tax is the invoice's)."""
    if kind not in TICKET_KINDS:
        return None
    if kind in ("51", "61"):
        return tax
    if total is None:
        return None
    return (total / Decimal("1.09") * Decimal("0.09")).quantize(FEN, rounding=ROUND_HALF_UP)


# --- scanner -------------------------------------------------------------------------------------------------------


def collection_add_qr(*, collection: Collection, payload: str, actor: Actor) -> CollectionItem:
    """One scan of an invoice's QR code: a prefilled record in review (it needs the file or a verification), or
    "already in the pool". A payload that is not an invoice QR is rejected with the reason."""
    authorize(actor, collection.taxpayer_id, P_COLLECT)
    _open_for_items(collection)
    shown = (payload or "").strip()[:120]
    try:
        qr = parse_invoice_qr(payload or "")
    except (QrPayloadError, TypeError) as exc:
        logger.info("not an invoice QR payload %r: %s", shown, exc)  # the parser's words are for the log
        return collection_item_reject(
            collection=collection, name=shown or gettext("（空）"), rule="qr_invalid", actor=actor,
            reason=gettext("不是发票二维码：发票二维码为逗号分隔的版本、票种、发票代码、发票号码、金额、开票日期等字段"))
    needs = ReviewReason("document", "needs_file", "扫码录入：需上传发票文件或查验后确认")
    values = reading.values_from_result(reading.result_from_qr(qr, reason=needs))
    problem = reading.key_problem(values)
    if problem:
        return collection_item_reject(collection=collection, name=shown, rule="qr_invalid", actor=actor,
                                      reason=problem)
    entity = collection.taxpayer
    with transaction.atomic():
        locked = Collection.objects.select_for_update().get(pk=collection.pk)
        _open_for_items(locked)
        record = _pool_record_locked(entity, values)
        if record is not None:
            item = _item_in_pool(locked, record=record, name=shown, values=values, actor=actor,
                                 reason=gettext("发票 %(invoice)s 已在发票池") % {"invoice": record})
        else:
            reasons = [{**r, "origin": ORIGIN_NEEDS_FILE if r["code"] == "needs_file" else ORIGIN_READER,
                        "carrier": None} for r in values.reasons]
            record = _record_create(entity, values=values, source=DataSource.QR, reasons=reasons, other_buyer=False)
            _source_add(record, locked, None, actor)
            event_record(obj=record, action="receive", actor=actor, to_state=record.use_state,
                         data={"collection": locked.pk, "method": locked.method, "source": DataSource.QR},
                         taxpayer=entity)
            item = _item_create(locked, name=shown, outcome=Outcome.REVIEW, rule="needs_file",
                                reason=gettext("已按二维码建立发票 %(invoice)s：需上传发票文件或查验后确认") % {
                                    "invoice": record},
                                detail={"invoice": values.as_json()}, invoice=record)
    _sync(collection, locked)
    return item


# --- manual entry --------------------------------------------------------------------------------------------------


def _decimal_or_none(value: Any, field_name: str, errors: dict[str, list[str]]) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        errors.setdefault(field_name, []).append(gettext("不是数字"))
        return None
    if not d.is_finite():
        errors.setdefault(field_name, []).append(gettext("不是数字"))
        return None
    if field_name in ("amount", "tax", "total"):
        try:
            return d.quantize(FEN)
        except InvalidOperation:  # more digits than the context holds: far beyond any money column
            errors.setdefault(field_name, []).append(money_range_problem(d) or gettext("不是数字"))
            return None
    return d


def money_sign_problems(*, is_red: bool, amount: Decimal | None, tax: Decimal | None,
                        total: Decimal | None) -> dict[str, str]:
    """The invoice's figures against its colour: a blue invoice's 价税合计 is above 0 and its amount and tax are not
    negative; a red one (红字, domain.md §11) is the negative of what it reverses. Field name -> the rule broken."""
    problems: dict[str, str] = {}
    if is_red:
        if total is not None and total >= 0:
            problems["total"] = gettext("红字发票的价税合计应为负数")
        for name, value in (("amount", amount), ("tax", tax)):
            if value is not None and value > 0:
                problems[name] = gettext("红字发票的%(field)s不能为正数") % {"field": FIELD_WORDS[name]}
        return problems
    if total is not None and total <= 0:
        problems["total"] = gettext("蓝字发票的价税合计必须大于 0（红字发票请标为“红字发票”）")
    for name, value in (("amount", amount), ("tax", tax)):
        if value is not None and value < 0:
            problems[name] = gettext("蓝字发票的%(field)s不能为负数（红字发票请标为“红字发票”）") % {
                "field": FIELD_WORDS[name]}
    return problems


def manual_values(*, kind: str, number: str, code: str = "", issue_date: date | None, seller_name: str = "",
                  seller_tax_id: str = "", buyer_name: str = "", buyer_tax_id: str = "", amount: Any = None,
                  tax: Any = None, total: Any = None, check_code: str = "", remark: str = "",
                  is_red: bool = False, blue_number: str = "",
                  lines: Sequence[dict[str, Any]] = ()) -> InvoiceValues:
    """Check what a person typed with the rules the readers' results pass (domain.md §2, §8, §9), and return it as
    pool values. Raises one ValidationError naming every field that is wrong.

    This is the one check of values typed or imported into the pool (the admin's manual entry, the API, the Excel
    import): figures that fit the invoice's colour (``money_sign_problems``), amounts a money column keeps exactly
    (``money_range_problem``) and line rates that exist (``invoice_rate_problem``, domain.md §6.1)."""
    errors: dict[str, list[str]] = {}
    if kind not in ReceivedKind.values:
        errors.setdefault("kind", []).append(gettext("请选择票种"))
    if issue_date is None:
        errors.setdefault("issue_date", []).append(gettext("请填写开票日期"))
    elif issue_date > timezone.localdate():
        errors.setdefault("issue_date", []).append(gettext("开票日期不能晚于今天"))
    money = {name: _decimal_or_none(v, name, errors) for name, v in (("amount", amount), ("tax", tax),
                                                                      ("total", total))}
    if money["total"] is None and money["amount"] is not None and money["tax"] is not None:
        money["total"] = money["amount"] + money["tax"]
    for name in ("amount", "total"):
        if money[name] is None and kind not in TICKET_KINDS:
            errors.setdefault(name, []).append(gettext("请填写金额"))
    if money["total"] is None:
        errors.setdefault("total", []).append(gettext("请填写价税合计"))
    if money["tax"] is None and money["amount"] is not None and money["total"] is not None:
        money["tax"] = money["total"] - money["amount"]
    for name, figure in money.items():
        too_big = money_range_problem(figure) if figure is not None else None
        if too_big and not errors.get(name):
            errors.setdefault(name, []).append(too_big)
    for name, problem in money_sign_problems(is_red=is_red, amount=money["amount"], tax=money["tax"],
                                             total=money["total"]).items():
        if not errors.get(name):
            errors.setdefault(name, []).append(problem)
    blue_number = (blue_number or "").strip()
    if blue_number and not is_red:
        errors.setdefault("blue_number", []).append(gettext("只有红字发票才填写对应蓝字发票号码"))
    elif blue_number and not re.fullmatch(r"[0-9]{8,20}", blue_number):
        errors.setdefault("blue_number", []).append(gettext("对应蓝字发票号码应为 8 至 20 位数字"))
    if not (seller_name or "").strip() and kind not in TICKET_KINDS:
        errors.setdefault("seller_name", []).append(gettext("请填写销售方名称"))
    for name, value in (("seller_tax_id", seller_tax_id), ("buyer_tax_id", buyer_tax_id)):
        if value:
            verdict = is_acceptable_tax_id(value, allow_legacy18=True)
            if not verdict.ok:
                errors.setdefault(name, []).append(verdict.reason)
    values = InvoiceValues(
        kind=kind, number=(number or "").strip(), code=(code or "").strip(), issue_date=issue_date or date.min,
        seller_name=(seller_name or "").strip(), seller_tax_id=compact_id(seller_tax_id or ""),
        buyer_name=(buyer_name or "").strip(), buyer_tax_id=compact_id(buyer_tax_id or ""),
        amount=money["amount"], tax=money["tax"], total=money["total"], check_code=(check_code or "").strip(),
        remark=remark or "", is_red=bool(is_red), blue_number=blue_number if is_red else "")
    if values.kind in LEGACY_KINDS and values.number.isdigit() and len(values.number) < 8:
        values.number = values.number.zfill(8)  # "不满8位请左补0" (domain.md §2.2)
    if kind in ReceivedKind.values:
        problem = reading.key_problem(values)
        if problem:
            errors.setdefault("number", []).append(problem)
    parsed_lines: list[InvoiceLine] = []
    for i, raw in enumerate(lines, start=1):
        line_errors: dict[str, list[str]] = {}
        amount_ = _decimal_or_none(raw.get("amount"), "amount", line_errors)
        tax_ = _decimal_or_none(raw.get("tax"), "tax", line_errors)
        rate = _decimal_or_none(raw.get("tax_rate"), "tax_rate", line_errors)
        if amount_ is None or line_errors:
            errors.setdefault("lines", []).append(gettext("第 %(n)d 行金额、税率或税额不是数字") % {"n": i})
            continue
        line_problems = [p for p in (money_range_problem(amount_),
                                     money_range_problem(tax_) if tax_ is not None else None,
                                     invoice_rate_problem(rate) if rate is not None else None) if p]
        if line_problems:
            errors.setdefault("lines", []).extend(
                gettext("第 %(n)d 行：%(why)s") % {"n": i, "why": p} for p in line_problems)
            continue
        parsed_lines.append(InvoiceLine(line_no=i, item_name=str(raw.get("item_name") or ""), amount=amount_,
                                        spec=str(raw.get("spec") or ""), unit=str(raw.get("unit") or ""),
                                        quantity=_decimal_or_none(raw.get("quantity"), "quantity", {}),
                                        unit_price=_decimal_or_none(raw.get("unit_price"), "unit_price", {}),
                                        tax_rate=rate, tax=tax_, tax_code=str(raw.get("tax_code") or "")))
    if not errors and money["amount"] is not None and money["tax"] is not None and money["total"] is not None:
        doc = InvoiceDocument(number=values.number, kind=kind, issue_date=values.issue_date,
                              seller=InvoiceParty(values.seller_name, values.seller_tax_id),
                              buyer=InvoiceParty(values.buyer_name, values.buyer_tax_id),
                              total_amount=money["amount"], total_tax=money["tax"], total_with_tax=money["total"],
                              lines=tuple(parsed_lines), legacy_code=values.code)
        checker = Checker(doc, {})
        checker.run()
        for reason in checker.reasons:
            if reason.code == "lines_missing" or reason.field in ("seller_name",):
                continue
            target = reason.field if reason.field in ("amount", "tax", "total", "lines") else "__all__"
            if reason.message not in errors.get(target, []):
                errors.setdefault(target, []).append(reason.message)
    if errors:
        raise ValidationError(errors)
    values.lines = [{"line_no": ln.line_no, "item_name": ln.item_name, "spec": ln.spec, "unit": ln.unit,
                     "quantity": ln.quantity, "unit_price": ln.unit_price, "amount": ln.amount,
                     "tax_rate": ln.tax_rate, "tax_rate_text": "" if ln.tax_rate is not None else "***",
                     "tax": ln.tax, "tax_code": ln.tax_code} for ln in parsed_lines]
    values.sure = set(reading.COMPARED_FIELDS) | {"number", "code", "lines"}
    return values


def received_invoice_create_manual(*, taxpayer: Taxpayer, actor: Actor, kind: str, number: str,
                                   issue_date: date | None, code: str = "", seller_name: str = "",
                                   seller_tax_id: str = "", buyer_name: str = "", buyer_tax_id: str = "",
                                   amount: Any = None, tax: Any = None, total: Any = None, check_code: str = "",
                                   remark: str = "", is_red: bool = False, blue_number: str = "",
                                   lines: Sequence[dict[str, Any]] = (), carrier: Carrier | None = None, collection: Collection | None = None,
                                   passenger: dict[str, Any] | None = None) -> ReceivedInvoice:
    """A person enters an invoice (from paper, or from a file the readers could not read: ``carrier``). Checked like
    a reader's result; a wrong key, sums that do not add up, or buyer and seller the wrong way round are refused."""
    record, _item = _manual_create(
        taxpayer=taxpayer, actor=actor, kind=kind, number=number, issue_date=issue_date, code=code,
        seller_name=seller_name, seller_tax_id=seller_tax_id, buyer_name=buyer_name, buyer_tax_id=buyer_tax_id,
        amount=amount, tax=tax, total=total, check_code=check_code, remark=remark, is_red=is_red,
        blue_number=blue_number, lines=lines, carrier=carrier, collection=collection, passenger=passenger,
        duplicate_ok=False)
    assert record is not None
    return record


def collection_add_manual(*, collection: Collection, actor: Actor, kind: str, number: str, issue_date: date | None,
                          code: str = "", seller_name: str = "", seller_tax_id: str = "", buyer_name: str = "",
                          buyer_tax_id: str = "", amount: Any = None, tax: Any = None, total: Any = None,
                          check_code: str = "", remark: str = "", is_red: bool = False, blue_number: str = "",
                          lines: Sequence[dict[str, Any]] = ()) -> CollectionItem:
    """Entered fields as one item of an open batch (the API): checked exactly like ``received_invoice_create_manual``
    (bad input raises one ValidationError naming each field); an invoice already in the pool is a *duplicate* item
    that names it (the batch is added to its sources), not an error."""
    _record, item = _manual_create(
        taxpayer=collection.taxpayer, actor=actor, kind=kind, number=number, issue_date=issue_date, code=code,
        seller_name=seller_name, seller_tax_id=seller_tax_id, buyer_name=buyer_name, buyer_tax_id=buyer_tax_id,
        amount=amount, tax=tax, total=total, check_code=check_code, remark=remark, is_red=is_red,
        blue_number=blue_number, lines=lines, carrier=None, collection=collection, passenger=None, duplicate_ok=True)
    return item


def _manual_create(*, taxpayer: Taxpayer, actor: Actor, kind: str, number: str, issue_date: date | None, code: str,
                   seller_name: str, seller_tax_id: str, buyer_name: str, buyer_tax_id: str, amount: Any, tax: Any,
                   total: Any, check_code: str, remark: str, is_red: bool, blue_number: str,
                   lines: Sequence[dict[str, Any]], carrier: Carrier | None, collection: Collection | None, passenger: dict[str, Any] | None,
                   duplicate_ok: bool) -> tuple[ReceivedInvoice | None, CollectionItem]:
    authorize(actor, taxpayer.pk, P_COLLECT)
    values = manual_values(kind=kind, number=number, code=code, issue_date=issue_date, seller_name=seller_name,
                           seller_tax_id=seller_tax_id, buyer_name=buyer_name, buyer_tax_id=buyer_tax_id,
                           amount=amount, tax=tax, total=total, check_code=check_code, remark=remark,
                           is_red=is_red, blue_number=blue_number, lines=lines)
    parties = parties_check(values, taxpayer)
    if parties.reasons:
        raise ValidationError({"buyer_name": [r["message"] for r in parties.reasons]})
    if carrier is not None and (carrier.taxpayer_id != taxpayer.pk or carrier.invoice_id is not None):
        raise ValidationError({"carrier": gettext("该文件不属于本主体或已关联发票")})
    with transaction.atomic():
        own_collection = collection is None
        if collection is None:
            collection = collection_start(taxpayer=taxpayer, method=Method.MANUAL, actor=actor)
        locked = Collection.objects.select_for_update().get(pk=collection.pk)
        if locked.taxpayer_id != taxpayer.pk:
            raise ValidationError(gettext("采集批次不属于该主体"))
        _open_for_items(locked)
        existing = _pool_record_locked(taxpayer, values)
        if existing is not None and duplicate_ok:
            item = _item_in_pool(locked, record=existing, name=gettext("手工录入 %(invoice)s") % {"invoice": existing},
                                 values=values, actor=actor,
                                 reason=gettext("发票 %(invoice)s 已在发票池") % {"invoice": existing})
            if own_collection:
                locked.complete(at=timezone.now())
                locked.save(update_fields=["status", "finished_at"])
            _sync(collection, locked)
            return None, item
        if existing is not None:
            raise ValidationError({"number": gettext("发票 %(invoice)s 已在发票池") % {"invoice": existing}})
        record = _record_create(taxpayer, values=values, source=DataSource.MANUAL, reasons=[],
                                other_buyer=parties.other_buyer)
        if passenger:
            for name in ("passenger_name", "passenger_id_number", "travel_date", "travel_from", "travel_to",
                         "vehicle_number", "seat_class"):
                if passenger.get(name):
                    setattr(record, name, passenger[name])
            record.save()
        if carrier is not None:
            carrier = Carrier.objects.select_for_update().get(pk=carrier.pk)
            carrier.invoice = record
            carrier.save(update_fields=["invoice"])
        _source_add(record, locked, carrier, actor)
        event_record(obj=record, action="receive", actor=actor, to_state=record.use_state,
                     data={"collection": locked.pk, "method": locked.method, "source": DataSource.MANUAL},
                     taxpayer=taxpayer)
        item = _item_create(locked, name=gettext("手工录入 %(invoice)s") % {"invoice": record},
                            outcome=Outcome.CREATED, rule="other_buyer" if parties.other_buyer else "",
                            reason=parties.note, detail={"invoice": values.as_json()}, invoice=record,
                            carrier=carrier)
        if own_collection:
            locked.complete(at=timezone.now())
            locked.save(update_fields=["status", "finished_at"])
    _sync(collection, locked)
    return record, item


# --- review --------------------------------------------------------------------------------------------------------


def received_invoice_review_resolve(*, record: ReceivedInvoice, actor: Actor, note: str) -> ReceivedInvoice:
    """A person has compared the record with its files and confirms it as it stands: the reasons stay on the record
    for the audit trail, the review is resolved and the invoice enters the pool. ``note`` says what was checked."""
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": gettext("请填写复核说明")})
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().get(pk=record.pk)
        authorize(actor, locked.taxpayer_id, P_REVIEW)
        if locked.review_state != ReviewState.NEEDS_REVIEW:
            raise ValidationError(gettext("这张发票不在待复核状态"))
        before = locked.review_state
        locked.resolve_review()
        locked.save(update_fields=["review_state", "updated_at"])
        event_record(obj=locked, action="resolve_review", actor=actor, from_state=before, to_state=locked.review_state,
                     reason=note[:500], data={"reasons": [r.get("code") for r in locked.review_reasons]},
                     taxpayer=locked.taxpayer)
        if locked.use_state == UseState.IN_REVIEW:
            locked.release_to_pool()
            locked.save(update_fields=["use_state", "updated_at"])
            event_record(obj=locked, action="release_to_pool", actor=actor, from_state=UseState.IN_REVIEW,
                         to_state=locked.use_state, taxpayer=locked.taxpayer)
    return locked


# --- values given whole (an Excel row, the platform's list) ----------------------------------------------------------


def collection_add_values(*, collection: Collection, name: str, values: InvoiceValues, source: str, actor: Actor,
                          platform_status_code: str = "") -> CollectionItem:
    """Put an invoice given as checked values (an Excel row through ``manual_values``, the platform's own list) into
    the batch's entity pool: a new record (*created*), or the record already there, which gets this batch as one
    more source (*duplicate*: nothing is collected twice, nothing is overwritten). ``platform_status_code``: the
    platform's 发票状态 (fpzt) of a new record."""
    authorize(actor, collection.taxpayer_id, P_COLLECT)
    _open_for_items(collection)
    problem = reading.key_problem(values)
    if problem:
        return collection_item_reject(collection=collection, name=name, rule="bad_key", actor=actor, reason=problem)
    entity = collection.taxpayer
    parties = parties_check(values, entity)
    with transaction.atomic():
        locked = Collection.objects.select_for_update().get(pk=collection.pk)
        _open_for_items(locked)
        record = _pool_record_locked(entity, values)
        if record is not None:
            item = _item_in_pool(locked, record=record, name=name, values=values, actor=actor,
                                 reason=gettext("发票 %(invoice)s 已在发票池，已记下本次来源") % {"invoice": record})
        else:
            reasons = [{**r, "carrier": None} for r in parties.reasons]
            record = _record_create(entity, values=values, source=source, reasons=reasons,
                                    other_buyer=parties.other_buyer)
            status = PLATFORM_STATUSES.get(platform_status_code)
            if status is not None:
                record.platform_status, record.platform_status_code = status, platform_status_code
                record.save(update_fields=["platform_status", "platform_status_code"])
            _source_add(record, locked, None, actor)
            event_record(obj=record, action="receive", actor=actor, to_state=record.use_state,
                         data={"collection": locked.pk, "method": locked.method, "source": source,
                               "platform_status": platform_status_code, "review": len(reasons)}, taxpayer=entity)
            if reasons:
                item = _item_create(locked, name=name, outcome=Outcome.REVIEW, rule=reasons[0]["code"],
                                    reason=_joined(reasons), detail={"invoice": values.as_json()}, invoice=record)
            else:
                item = _item_create(locked, name=name, outcome=Outcome.CREATED,
                                    rule="other_buyer" if parties.other_buyer else "", reason=parties.note,
                                    detail={"invoice": values.as_json()}, invoice=record)
    _sync(collection, locked)
    return item


# 发票状态 fpzt (domain.md §14.3) -> the record's platform status.
PLATFORM_STATUSES = {"01": PlatformStatus.NORMAL, "02": PlatformStatus.VOIDED, "03": PlatformStatus.RED_FULL,
                     "04": PlatformStatus.RED_PARTIAL}


def received_invoice_platform_status_set(*, record: ReceivedInvoice, code: str, actor: Actor,
                                         collection: Collection | None = None) -> bool:
    """The platform's 发票状态 (fpzt) for a pool record: 正常, 已作废, 已红冲-全额 / 部分. A change is saved with its
    event (from → to); the same status again changes nothing. Returns whether the record changed."""
    status = PLATFORM_STATUSES.get(code)
    if status is None:
        raise ValidationError({"platform_status": gettext("未知的发票状态代码 %(code)s") % {"code": code}})
    with transaction.atomic():
        locked = ReceivedInvoice.objects.select_for_update().get(pk=record.pk)
        authorize(actor, locked.taxpayer_id, P_COLLECT)
        if locked.platform_status == status and locked.platform_status_code == code:
            return False
        before = locked.platform_status
        locked.platform_status, locked.platform_status_code = status, code
        locked.save(update_fields=["platform_status", "platform_status_code", "updated_at"])
        event_record(obj=locked, action="platform_status_change", actor=actor, from_state=before,
                     to_state=locked.platform_status,
                     data={"code": code, "collection": collection.pk if collection is not None else None},
                     taxpayer=locked.taxpayer)
    record.platform_status, record.platform_status_code = status, code
    return True
