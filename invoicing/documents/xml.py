"""The 数电 invoice XML (财政部《电子凭证会计数据标准——全面数字化的电子发票》, domain.md §4.1).

``write_xml`` produces the ``EInvoice`` structure. ``read_xml`` reads, by local name and without assuming element
order or namespaces: the 数电 ``EInvoice``, its XBRL (``einv:``) export, and the two XML attachments found in legacy
税控 OFDs (``original_invoice.xml`` ``eInvoice`` and the XBRL ``inv_ord_issuer_*.xml``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal

from lxml import etree

from invoicing.documents._safety import local, parse_xml
from invoicing.documents.errors import MalformedDocument, UnsupportedDocument
from invoicing.documents.model import (
    FORMAT_XML,
    InvoiceDocument,
    InvoiceLine,
    InvoiceParty,
    format_money,
    format_plain,
    kind_from_labels,
    legacy_kind_from_code,
    money,
    normalize_decimal,
    normalize_text,
    parse_date,
    parse_decimal,
    parse_rate,
    parse_time,
    printed_total_in_words,
    split_item_name,
)

XML_VERSION = "0.33"

# ------------------------------------------------------------------------------------------------- write


def _general_or_special(doc: InvoiceDocument) -> tuple[str, str]:
    return ("01", "增值税专用发票") if doc.is_special else ("02", "普通发票")


def _e_invoice_type(doc: InvoiceDocument) -> tuple[str, str]:
    # 数电纸票 (85/86) is labelled 纸质发票; its code "02" is our reading, not from a published sample.
    return ("02", "纸质发票") if doc.kind in {"85", "86"} else ("01", "电子发票")


def _region(doc: InvoiceDocument) -> str:
    code = doc.tax_bureau_code
    if len(code) >= 5 and code[1:5].isdigit():
        return code[1:5]
    if len(doc.number) == 20 and doc.number[2:4].isdigit():
        return doc.number[2:4] + "00"
    return "0000"


def red_remark_prefix(doc: InvoiceDocument) -> str:
    """The remark text the platform prints on a red invoice (被红冲蓝字数电发票号码 / 确认单编号)."""
    if not doc.is_red:
        return ""
    parts = []
    if doc.blue_number:
        parts.append(f"被红冲蓝字数电发票号码：{doc.blue_number}")
    if doc.red_form_number:
        parts.append(f"红字发票信息确认单编号：{doc.red_form_number}")
    return " ".join(parts)


def full_remark(doc: InvoiceDocument) -> str:
    prefix = red_remark_prefix(doc)
    if prefix and prefix not in doc.remark:
        return f"{prefix} {doc.remark}".strip()
    return doc.remark


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text:
        el.text = text
    return el


def _label(parent: etree._Element, tag: str, code: str, name: str) -> None:
    el = _sub(parent, tag)
    _sub(el, "LabelCode", code)
    _sub(el, "LabelName", name)


def _issue_time_text(doc: InvoiceDocument) -> str:
    d = doc.issue_date.isoformat()
    if doc.issue_time is not None:
        return f"{d} {doc.issue_time.strftime('%H:%M:%S')}"
    return d


def write_xml(doc: InvoiceDocument) -> bytes:
    """Serialise ``doc`` as a 数电 ``EInvoice`` XML document (UTF-8, with declaration). Unsigned."""
    root = etree.Element("EInvoice")
    header = _sub(root, "Header")
    _sub(header, "EIid", doc.number)
    _sub(header, "EInvoiceTag", f"SWEI{_region(doc)}")
    _sub(header, "Version", XML_VERSION)
    inherent = _sub(header, "InherentLabel")
    _label(inherent, "InIssuType", "N" if doc.is_red else "Y", "是否蓝字发票标志")
    _label(inherent, "EInvoiceType", *_e_invoice_type(doc))
    _label(inherent, "GeneralOrSpecialVAT", *_general_or_special(doc))
    _label(inherent, "TaxpayerType", doc.taxpayer_type or "1",
           "小规模纳税人" if doc.taxpayer_type == "2" else "一般纳税人")
    if doc.specific_business_code:
        undefined = _sub(header, "UndefinedLabel")
        lab = _sub(undefined, "Label")
        _sub(lab, "LabelType", "特定业务")
        _sub(lab, "LabelCode", doc.specific_business_code)
        _sub(lab, "LabelName", "")

    data = _sub(root, "EInvoiceData")
    for prefix, party, tag in (("Seller", doc.seller, "SellerInformation"), ("Buyer", doc.buyer, "BuyerInformation")):
        info = _sub(data, tag)
        _sub(info, f"{prefix}IdNum", party.tax_id)
        _sub(info, f"{prefix}Name", party.name)
        _sub(info, f"{prefix}Addr", party.address)
        _sub(info, f"{prefix}TelNum", party.phone)
        _sub(info, f"{prefix}BankName", party.bank_name)
        _sub(info, f"{prefix}BankAccNum", party.bank_account)

    basic = _sub(data, "BasicInformation")
    _sub(basic, "TotalAmWithoutTax", format_money(doc.total_amount))
    _sub(basic, "TotalTaxAm", format_money(doc.total_tax))
    _sub(basic, "TotalTax-includedAmount", format_money(doc.total_with_tax))
    _sub(basic, "TotalTax-includedAmountInChinese", printed_total_in_words(doc))
    _sub(basic, "Drawer", doc.drawer)
    _sub(basic, "RequestTime", _issue_time_text(doc))

    for line in doc.lines:
        item = _sub(data, "IssuItemInformation")
        _sub(item, "ItemName", line.item_name)
        _sub(item, "SpecMod", line.spec)
        _sub(item, "MeaUnits", line.unit)
        _sub(item, "Quantity", format_plain(line.quantity))
        _sub(item, "UnPrice", format_plain(line.unit_price))
        _sub(item, "Amount", format_money(line.amount))
        if line.tax_rate is None:
            _sub(item, "TaxRate", line.tax_rate_text or "***")
        else:
            _sub(item, "TaxRate", f"{line.tax_rate.quantize(Decimal('0.000001')):f}")
        _sub(item, "ComTaxAm", line.tax_display)
        with_tax = line.amount + (line.tax or Decimal(0))
        _sub(item, "TotaltaxIncludedAmount", format_money(with_tax))
        _sub(item, "TaxClassificationCode", line.tax_code)

    specific = _sub(data, "SpecificInformation")
    for key, value in doc.specific_business.items():
        try:  # keys become element names (Chinese names are fine); a key that is no XML name is skipped
            _sub(specific, key, value)
        except ValueError:
            continue
    additional = _sub(data, "AdditionalInformation")
    _sub(additional, "Remark", full_remark(doc))

    supervision = _sub(root, "TaxSupervisionInfo")
    _sub(supervision, "InvoiceNumber", doc.number)
    _sub(supervision, "IssueTime", _issue_time_text(doc))
    _sub(supervision, "TaxBureauCode", doc.tax_bureau_code)
    _sub(supervision, "TaxBureauName", doc.tax_bureau_name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# -------------------------------------------------------------------------------------------------- read

# Field -> local element names, across the 数电 XML, its XBRL export, legacy original_invoice.xml and legacy XBRL.
_FIELDS: dict[str, tuple[str, ...]] = {
    "number": ("EIid", "InvoiceNumber"),
    "legacy_code": ("InvoiceCode", "CodeOfInvoice"),
    "legacy_number": ("InvoiceNo", "NumberOfInvoice"),
    "unique_code": ("UniqueCodeOfInvoice",),
    "issue_time": ("IssueTime", "RequestTime", "IssueDate", "DateOfIssue"),
    "check_code": ("InvoiceCheckCode", "IdentifyingCode"),
    "seller_name": ("SellerName", "NameOfSeller"),
    "seller_id": ("SellerIdNum", "SellerTaxID", "TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfSeller"),
    "seller_addr": ("SellerAddr",),
    "seller_tel": ("SellerTelNum",),
    "seller_addr_tel": ("SellerAddrTel", "AddressPhoneNumberOfSeller"),
    "seller_bank": ("SellerBankName",),
    "seller_account": ("SellerBankAccNum",),
    "seller_bank_account": ("SellerFinancialAccount", "DepositBankAndAccountNumberOfSeller"),
    "buyer_name": ("BuyerName", "NameOfPurchaser"),
    "buyer_id": ("BuyerIdNum", "BuyerTaxID", "TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfPurchaser"),
    "buyer_addr": ("BuyerAddr",),
    "buyer_tel": ("BuyerTelNum",),
    "buyer_addr_tel": ("BuyerAddrTel", "AddressPhoneNumberOfPurchaser"),
    "buyer_bank": ("BuyerBankName",),
    "buyer_account": ("BuyerBankAccNum",),
    "buyer_bank_account": ("BuyerFinancialAccount", "DepositBankAndAccountNumberOfPurchaser"),
    "total_amount": ("TotalAmWithoutTax", "TaxExclusiveTotalAmount", "TotalAmountExcludingTax"),
    "total_tax": ("TotalTaxAm", "TaxTotalAmount", "TotalTaxAmount"),
    "total_with_tax": ("TotalTax-includedAmount", "TaxInclusiveTotalAmount", "TaxIncludedAmountInFigures"),
    "total_in_words": ("TotalTax-includedAmountInChinese", "TaxInclusiveTotalAmountWithWords",
                       "TaxIncludedAmountInWords"),
    "drawer": ("Drawer", "InvoiceClerk", "Issuer"),
    "remark": ("Remark", "Note", "Remarks"),
    "tax_bureau_code": ("TaxBureauCode",),
    "tax_bureau_name": ("TaxBureauName",),
    "type_title": ("TypeOfInvoice",),
    "is_red_flag": ("WhetherEinvoiceIsRedEinvoice",),
}
_LINE_GROUPS = frozenset({"IssuItemInformation", "GoodsInfo", "InformationOfTaxableGoodsOrServicesDetailItemsTuple"})
_LINE_FIELDS: dict[str, tuple[str, ...]] = {
    "item_name": ("ItemName", "Item", "NameOfTaxableGoodsOrServices"),
    "spec": ("SpecMod", "Specification"),
    "unit": ("MeaUnits", "MeasurementDimension", "UnitOfGoodsOrServices"),
    "quantity": ("Quantity", "QuantityOfGoodsOrServices"),
    "unit_price": ("UnPrice", "Price", "UnitPriceOfGoodsOrServices"),
    "amount": ("Amount", "AmountExcludingTax"),
    "tax_rate": ("TaxRate", "TaxScheme"),
    "tax": ("ComTaxAm", "TaxAmount"),
    "tax_code": ("TaxClassificationCode", "Code"),
    "line_no": ("LineNo",),
    "line_property": ("LineNature", "NatureOfInvoiceLine"),
}
_SKIP_SUBTREES = frozenset({"TaxBureauSignature", "Signature", "SignatureValue", "KeyInfo", "SellerAuthentication"})

_BLUE_RE = re.compile(r"被红冲蓝字(?:数电)?发票号码[:：]\s*(\d{8,20})")
_RED_FORM_RE = re.compile(r"红字发票信息确认单编号[:：]\s*(\w+)")
_PHONE_TAIL_RE = re.compile(r"^(.*?)[\s\-]*((?:\+?86[\s-]?)?(?:0\d{2,3}[\s-]?)?\d{7,8}(?:-\d{1,6})?|1\d{10})\s*$")
_ACCOUNT_TAIL_RE = re.compile(r"^(.*?)\s*(\d[\d\s-]{5,}\d)\s*$")


def _flat(root: etree._Element) -> tuple[dict[str, str], list[etree._Element], dict[str, str]]:
    """First non-empty text per local name outside line groups; the line groups; InherentLabel codes."""
    values: dict[str, str] = {}
    groups: list[etree._Element] = []
    labels: dict[str, str] = {}
    specific: dict[str, str] = {}
    stack = [root]
    while stack:
        el = stack.pop()
        name = local(el)
        if not name or name in _SKIP_SUBTREES:
            continue
        if name in _LINE_GROUPS:
            groups.append(el)
            continue
        if name in {"InIssuType", "EInvoiceType", "GeneralOrSpecialVAT", "TaxpayerType"}:
            for child in el:
                if local(child) == "LabelCode":
                    labels[name] = normalize_text(child.text)
                elif local(child) == "LabelName":
                    labels[name + ".name"] = normalize_text(child.text)
            continue
        if name == "Label":
            kv = {local(c): normalize_text(c.text) for c in el}
            if kv.get("LabelType") == "特定业务":
                labels["specific_business_code"] = kv.get("LabelCode", "")
            continue
        if name == "SpecificInformation":
            for sub in el.iter():
                if sub is not el and len(sub) == 0 and local(sub):
                    specific[local(sub)] = normalize_text(sub.text)
            continue
        children = [c for c in el if isinstance(c.tag, str)]
        if not children:
            text = normalize_text(el.text)
            if text and name not in values:
                values[name] = text
        else:
            stack.extend(reversed(children))
    labels.update({f"specific:{k}": v for k, v in specific.items()})
    return values, sorted(groups, key=_doc_order(root)), labels


def _doc_order(root: etree._Element) -> Callable[[etree._Element], int]:
    order = {el: i for i, el in enumerate(root.iter())}
    return lambda el: order.get(el, 0)


def _pick(values: dict[str, str], field: str, table: dict[str, tuple[str, ...]] = _FIELDS) -> str:
    for name in table[field]:
        v = values.get(name)
        if v:
            return v
    return ""


def split_addr_tel(text: str) -> tuple[str, str]:
    """"桂林市七星区五里店路27号 07733621195" -> (address, phone)."""
    text = normalize_text(text)
    m = _PHONE_TAIL_RE.match(text)
    if m and m.group(1):
        return m.group(1).strip(" ,，;；"), m.group(2).strip()
    return text, ""


def split_bank_account(text: str) -> tuple[str, str]:
    """"中国工商银行股份有限公司贵阳省政府支行 2402012219200041549" -> (bank, account)."""
    text = normalize_text(text)
    m = _ACCOUNT_TAIL_RE.match(text)
    if m and m.group(1):
        return m.group(1).strip(" ,，;；"), m.group(2).replace(" ", "")
    return text, ""


def _party(values: dict[str, str], prefix: str) -> InvoiceParty:
    address = _pick(values, f"{prefix}_addr")
    phone = _pick(values, f"{prefix}_tel")
    if not address and not phone:
        address, phone = split_addr_tel(_pick(values, f"{prefix}_addr_tel"))
    bank = _pick(values, f"{prefix}_bank")
    account = _pick(values, f"{prefix}_account")
    if not bank and not account:
        bank, account = split_bank_account(_pick(values, f"{prefix}_bank_account"))
    return InvoiceParty(
        name=_pick(values, f"{prefix}_name"),
        tax_id=_pick(values, f"{prefix}_id").replace(" ", ""),
        address=address,
        phone=phone,
        bank_name=bank,
        bank_account=account,
    )


def _line(group: etree._Element, index: int) -> InvoiceLine | None:
    values: dict[str, str] = {}
    for el in group.iter():
        name = local(el)
        if name and el is not group and name not in values:
            text = normalize_text(el.text)
            if text:
                values[name] = text
    item_name = _pick(values, "item_name", _LINE_FIELDS)
    amount = parse_decimal(_pick(values, "amount", _LINE_FIELDS))
    if not item_name and amount is None:
        return None
    rate_text = _pick(values, "tax_rate", _LINE_FIELDS)
    rate = parse_rate(rate_text)
    tax = parse_decimal(_pick(values, "tax", _LINE_FIELDS))
    quantity = parse_decimal(_pick(values, "quantity", _LINE_FIELDS))
    price = parse_decimal(_pick(values, "unit_price", _LINE_FIELDS))
    line_no_text = _pick(values, "line_no", _LINE_FIELDS)
    prop_text = _pick(values, "line_property", _LINE_FIELDS)
    return InvoiceLine(
        line_no=int(line_no_text) if line_no_text.isascii() and line_no_text.isdigit() else index,
        item_name=item_name,
        short_name=split_item_name(item_name)[0],
        spec=_pick(values, "spec", _LINE_FIELDS),
        unit=_pick(values, "unit", _LINE_FIELDS),
        quantity=None if quantity is None else normalize_decimal(quantity),
        unit_price=None if price is None else normalize_decimal(price),
        amount=money(amount) or Decimal("0.00"),
        tax_rate=rate,
        tax=money(tax),
        tax_code=_pick(values, "tax_code", _LINE_FIELDS),
        line_property=int(prop_text) if prop_text in {"0", "1", "2"} else 0,
        tax_rate_text="" if rate is not None else (rate_text or "***"),
    )


def document_from_values(
    values: dict[str, str],
    groups: Iterable[etree._Element] = (),
    labels: dict[str, str] | None = None,
    *,
    source_format: str = FORMAT_XML,
) -> InvoiceDocument:
    """Build an ``InvoiceDocument`` from a flat local-name -> text map (shared with the OFD reader)."""
    labels = labels or {}
    lines = tuple(ln for i, g in enumerate(groups, start=1) if (ln := _line(g, i)) is not None)
    legacy_code = _pick(values, "legacy_code").replace(" ", "")
    legacy_number = _pick(values, "legacy_number").replace(" ", "")
    number = _pick(values, "number").replace(" ", "")
    if not number:
        number = _pick(values, "unique_code") or (legacy_code + legacy_number)
    if not number:
        raise MalformedDocument("no invoice number found")

    when = _pick(values, "issue_time")
    issue_date = parse_date(when)
    if issue_date is None:
        raise MalformedDocument("no issue date found")
    issue_time = None
    for name in _FIELDS["issue_time"]:  # IssueTime may carry the date only while RequestTime has the time
        candidate = values.get(name, "")
        if parse_date(candidate) == issue_date and (issue_time := parse_time(candidate)) is not None:
            break

    total_amount = parse_decimal(_pick(values, "total_amount"))
    total_tax = parse_decimal(_pick(values, "total_tax"))
    total_with_tax = parse_decimal(_pick(values, "total_with_tax"))
    if total_amount is None and lines:
        total_amount = sum((ln.amount for ln in lines), Decimal(0))
    if total_tax is None:
        if total_amount is not None and total_with_tax is not None:
            total_tax = total_with_tax - total_amount
        else:
            total_tax = sum((ln.tax or Decimal(0) for ln in lines), Decimal(0))
    if total_with_tax is None and total_amount is not None:
        total_with_tax = total_amount + total_tax
    if total_amount is None or total_with_tax is None:
        raise MalformedDocument("no invoice totals found")

    remark = _pick(values, "remark")
    blue = _BLUE_RE.search(remark)
    red_form = _RED_FORM_RE.search(remark)
    # The red-invoice references live in their own fields; drop their printed form from the free remark.
    remark = _RED_FORM_RE.sub("", _BLUE_RE.sub("", remark)).strip()
    if "InIssuType" in labels:  # the explicit 蓝字/红字 label wins over any inference
        is_red = labels["InIssuType"] == "N"
    elif _pick(values, "is_red_flag"):
        is_red = _pick(values, "is_red_flag").lower() == "true"
    else:
        is_red = total_with_tax < 0 or blue is not None

    if "GeneralOrSpecialVAT" in labels or "EInvoiceType" in labels:
        kind = kind_from_labels(labels.get("EInvoiceType", "01"), labels.get("GeneralOrSpecialVAT", ""),
                                labels.get("GeneralOrSpecialVAT.name", ""))
    elif legacy_code:
        kind = legacy_kind_from_code(legacy_code, _pick(values, "type_title"))
    else:
        kind = values.get("_kind", "") or "82"

    specific = {k.split(":", 1)[1]: v for k, v in labels.items() if k.startswith("specific:")}
    return InvoiceDocument(
        number=number,
        kind=kind,
        issue_date=issue_date,
        issue_time=issue_time,
        seller=_party(values, "seller"),
        buyer=_party(values, "buyer"),
        lines=lines,
        total_amount=money(total_amount) or Decimal("0.00"),
        total_tax=money(total_tax) or Decimal("0.00"),
        total_with_tax=money(total_with_tax) or Decimal("0.00"),
        legacy_code=legacy_code,
        legacy_number=legacy_number,
        check_code=_pick(values, "check_code").replace(" ", ""),
        total_in_words=_pick(values, "total_in_words"),
        remark=remark,
        drawer=_pick(values, "drawer"),
        is_red=is_red,
        blue_number=blue.group(1) if blue else "",
        red_form_number=red_form.group(1) if red_form else "",
        specific_business_code=labels.get("specific_business_code", ""),
        specific_business=specific,
        tax_bureau_code=_pick(values, "tax_bureau_code"),
        tax_bureau_name=_pick(values, "tax_bureau_name"),
        taxpayer_type=labels.get("TaxpayerType", "1") or "1",
        source_format=source_format,
    )


def read_xml(data: bytes) -> InvoiceDocument:
    """Read a 数电 XML (or one of the legacy / XBRL invoice XMLs). Raises only ``DocumentError`` subclasses."""
    root = parse_xml(data, what="invoice XML")
    try:
        return read_xml_element(root)
    except (ValueError, ArithmeticError, TypeError) as exc:  # a value we did not foresee: still a typed error
        raise MalformedDocument(f"invoice XML: unreadable value ({exc})") from exc


def read_xml_element(root: etree._Element, *, source_format: str = FORMAT_XML) -> InvoiceDocument:
    values, groups, labels = _flat(root)
    known = {n for names in _FIELDS.values() for n in names}
    if not (known & values.keys()) and not groups:
        raise UnsupportedDocument(f"<{local(root)}> is not an invoice XML this reader knows")
    return document_from_values(values, groups, labels, source_format=source_format)

