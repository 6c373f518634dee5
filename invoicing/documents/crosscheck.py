"""Cross-checks on a read invoice: every field that can be checked against another path or rule is.

* 金额 + 税额 = 价税合计 (exact, domain.md §8.3);
* the lines against the totals (Σ金额, Σ税额 exact);
* each line's 税额 against 金额 × 税率 (1 fen per line) and the total tax against Σ(金额 × 税率) per rate (the
  1.27 yuan 尾差 of §8.2);
* the 价税合计 in words against the figure;
* the QR payload against the text (number, code, date, amount, check code);
* tax ids against their check character (18-character 统一社会信用代码).

A money field is *confirmed* only when something other than amount + tax = total backs it (a swap of amount and tax
keeps that sum); otherwise it goes to review. The result never guesses: a field that disagrees is reported with the
reason, not replaced.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from invoicing.documents.model import (
    CONFIRMED,
    MISSING,
    READ,
    UNCERTAIN,
    FieldReading,
    InvoiceDocument,
    ReviewReason,
)
from invoicing.ids import is_valid_uscc
from invoicing.words import parse_amount_in_words

FEN = Decimal("0.01")
LINE_TOLERANCE = Decimal("0.01")
TOTAL_TOLERANCE = Decimal("1.27")


def _r2(d: Decimal) -> Decimal:
    return d.quantize(FEN, rounding=ROUND_HALF_UP)


class Checker:
    def __init__(self, doc: InvoiceDocument, sources: dict[str, str]):
        self.doc = doc
        self.sources = sources
        self.reasons: list[ReviewReason] = []
        self.confirmed: set[str] = set()
        self.bad: set[str] = set()

    def flag(self, field: str, code: str, message: str) -> None:
        self.reasons.append(ReviewReason(field, code, message))
        self.bad.add(field)

    def values(self) -> dict[str, Any]:
        d = self.doc
        legacy = bool(d.legacy_code)
        return {
            "kind": d.kind, "number": d.legacy_number if legacy else d.number, "code": d.legacy_code,
            "issue_date": d.issue_date, "check_code": d.check_code, "buyer_name": d.buyer.name,
            "buyer_tax_id": d.buyer.tax_id, "seller_name": d.seller.name, "seller_tax_id": d.seller.tax_id,
            "amount": d.total_amount, "tax": d.total_tax, "total": d.total_with_tax, "lines": d.lines,
        }

    def run(self, *, qr: Any = None, words: str = "", missing: set[str] | None = None) -> None:
        d = self.doc
        missing = missing or set()
        for name in missing:
            if name in ("amount", "tax", "total", "number", "issue_date", "seller_name"):
                self.flag(name, "missing", "未能从文件读出")
        # amount + tax = total
        if d.total_amount + d.total_tax != d.total_with_tax:
            for name in ("amount", "tax", "total"):
                self.flag(name, "sum_mismatch", f"金额 {d.total_amount} + 税额 {d.total_tax} ≠ 价税合计 "
                          f"{d.total_with_tax}")
        self._lines()
        self._words(words)
        if qr is not None:
            self._qr(qr)
        self._tax_ids()
        if not d.seller.name:
            self.flag("seller_name", "missing", "未读到销售方名称")

    def _lines(self) -> None:
        d = self.doc
        if not d.lines:
            self.flag("lines", "lines_missing", "未读到明细行")
            return
        sum_amount = sum((ln.amount for ln in d.lines), Decimal(0))
        taxes = [ln.tax for ln in d.lines if ln.tax is not None]
        sum_tax = sum(taxes, Decimal(0))
        amounts_agree = sum_amount == d.total_amount
        taxes_agree = sum_tax == d.total_tax
        if not amounts_agree:
            self.flag("lines", "lines_sum", f"明细金额之和 {sum_amount} ≠ 合计金额 {d.total_amount}")
            self.flag("amount", "lines_sum", f"合计金额 {d.total_amount} 与明细金额之和 {sum_amount} 不符")
        if not taxes_agree:
            self.flag("lines", "lines_tax_sum", f"明细税额之和 {sum_tax} ≠ 合计税额 {d.total_tax}")
            self.flag("tax", "lines_sum", f"合计税额 {d.total_tax} 与明细税额之和 {sum_tax} 不符")
        rates_ok = True
        groups: dict[Decimal, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for ln in d.lines:
            if ln.tax_rate is None:
                if ln.tax not in (None, Decimal(0)):
                    rates_ok = False
                    self.flag("lines", "line_rate", f"第 {ln.line_no} 行税率为 {ln.tax_rate_text or '***'}，税额却为 "
                              f"{ln.tax}")
                continue
            expected = _r2(ln.amount * ln.tax_rate)
            tax = ln.tax if ln.tax is not None else Decimal(0)
            if abs(expected - tax) > LINE_TOLERANCE:
                rates_ok = False
                self.flag("lines", "line_rate", f"第 {ln.line_no} 行税额 {tax} ≠ 金额 {ln.amount} × 税率 "
                          f"{ln.tax_rate}（{expected}）")
            groups[ln.tax_rate][0] += ln.amount
            groups[ln.tax_rate][1] += tax
        for rate, (amount, tax) in groups.items():
            if abs(amount * rate - tax) > TOTAL_TOLERANCE:
                rates_ok = False
                self.flag("tax", "total_rate", f"税率 {rate} 的税额合计 {tax} 与金额合计 {amount} × 税率相差超过 "
                          f"{TOTAL_TOLERANCE}")
        if not rates_ok:
            self.flag("amount", "line_rate", "明细行金额 × 税率与税额不符（金额与税额可能错位）")
            self.flag("tax", "line_rate", "明细行金额 × 税率与税额不符（金额与税额可能错位）")
        if amounts_agree and taxes_agree and rates_ok:
            self.confirmed.update({"lines", "amount", "tax"})

    def _words(self, words: str) -> None:
        if not words:
            return
        try:
            value = parse_amount_in_words(words)
        except (ValueError, ArithmeticError):
            self.flag("total", "words_unreadable", f"价税合计大写“{words}”无法识别")
            return
        if value != self.doc.total_with_tax:
            self.flag("total", "words_mismatch", f"价税合计大写 {words}（{value}）≠ 小写 {self.doc.total_with_tax}")
        else:
            self.confirmed.add("total")

    def _qr(self, qr: Any) -> None:
        d = self.doc
        legacy = bool(d.legacy_code)
        number = d.legacy_number if legacy else d.number
        if qr.number == number:
            self.confirmed.add("number")
        else:
            self.flag("number", "qr_mismatch", f"二维码发票号码 {qr.number} ≠ 票面 {number}")
        if qr.code:
            if qr.code == d.legacy_code:
                self.confirmed.add("code")
            else:
                self.flag("code", "qr_mismatch", f"二维码发票代码 {qr.code} ≠ 票面 {d.legacy_code}")
        if qr.date == d.issue_date:
            self.confirmed.add("issue_date")
        else:
            self.flag("issue_date", "qr_mismatch", f"二维码开票日期 {qr.date} ≠ 票面 {d.issue_date}")
        if qr.check_code:
            if qr.check_code == d.check_code:
                self.confirmed.add("check_code")
            elif d.check_code:
                self.flag("check_code", "qr_mismatch", f"二维码校验码 {qr.check_code} ≠ 票面 {d.check_code}")
        if qr.amount is not None:
            # 数电: 价税合计; legacy: 合计金额 (tax-exclusive). Either must match one of the face's figures.
            target, name = (d.total_with_tax, "total") if qr.is_shudian else (d.total_amount, "amount")
            if qr.amount == target:
                self.confirmed.add(name)
            elif qr.amount not in (d.total_amount, d.total_with_tax):
                self.flag(name, "qr_mismatch", f"二维码金额 {qr.amount} 与票面金额不符")

    def _tax_ids(self) -> None:
        for name, value in (("buyer_tax_id", self.doc.buyer.tax_id), ("seller_tax_id", self.doc.seller.tax_id)):
            if not value:
                continue
            if len(value) == 18 and value[0] in "123456789ANY" and is_valid_uscc(value):
                self.confirmed.add(name)
            elif len(value) not in (15, 17, 18, 20):
                self.flag(name, "tax_id_format", f"纳税人识别号 {value} 的长度不对")

    def readings(self, present: dict[str, bool]) -> dict[str, FieldReading]:
        out: dict[str, FieldReading] = {}
        for name, value in self.values().items():
            source = self.sources.get(name, "text")
            if name in self.bad:
                confidence = UNCERTAIN
            elif not present.get(name, bool(value)):
                confidence = MISSING
            elif name in self.confirmed:
                confidence = CONFIRMED
            else:
                confidence = READ
            out[name] = FieldReading(source, confidence)
        return out

    def require_money_corroboration(self) -> None:
        """A money figure is sure only when something besides amount + tax = total backs it."""
        for name, label in (("amount", "合计金额"), ("tax", "合计税额"), ("total", "价税合计")):
            if name not in self.bad and name not in self.confirmed:
                self.flag(name, "not_corroborated", f"{label}无法与明细、大写金额或二维码核对")
