from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from invoicing.documents.demo import demo_document
from invoicing.documents.errors import DocumentError, MalformedDocument, UnsafeDocument, UnsupportedDocument
from invoicing.documents.model import InvoiceDocument, InvoiceLine, InvoiceParty
from invoicing.documents.xml import read_xml, write_xml

# Element paths of the official Guangdong sample (shudian_xml_element_trees.txt), minus the signature parts we
# cannot produce (SellerAuthentication, TaxBureauSignature).
OFFICIAL_PATHS = [
    "Header/EIid", "Header/EInvoiceTag", "Header/Version",
    "Header/InherentLabel/InIssuType/LabelCode", "Header/InherentLabel/InIssuType/LabelName",
    "Header/InherentLabel/EInvoiceType/LabelCode", "Header/InherentLabel/GeneralOrSpecialVAT/LabelCode",
    "Header/InherentLabel/TaxpayerType/LabelCode",
    "EInvoiceData/SellerInformation/SellerIdNum", "EInvoiceData/SellerInformation/SellerName",
    "EInvoiceData/SellerInformation/SellerAddr", "EInvoiceData/SellerInformation/SellerTelNum",
    "EInvoiceData/SellerInformation/SellerBankName", "EInvoiceData/SellerInformation/SellerBankAccNum",
    "EInvoiceData/BuyerInformation/BuyerIdNum", "EInvoiceData/BuyerInformation/BuyerName",
    "EInvoiceData/BuyerInformation/BuyerAddr", "EInvoiceData/BuyerInformation/BuyerTelNum",
    "EInvoiceData/BuyerInformation/BuyerBankName", "EInvoiceData/BuyerInformation/BuyerBankAccNum",
    "EInvoiceData/BasicInformation/TotalAmWithoutTax", "EInvoiceData/BasicInformation/TotalTaxAm",
    "EInvoiceData/BasicInformation/TotalTax-includedAmount",
    "EInvoiceData/BasicInformation/TotalTax-includedAmountInChinese",
    "EInvoiceData/BasicInformation/Drawer", "EInvoiceData/BasicInformation/RequestTime",
    "EInvoiceData/IssuItemInformation/ItemName", "EInvoiceData/IssuItemInformation/SpecMod",
    "EInvoiceData/IssuItemInformation/MeaUnits", "EInvoiceData/IssuItemInformation/Quantity",
    "EInvoiceData/IssuItemInformation/UnPrice", "EInvoiceData/IssuItemInformation/Amount",
    "EInvoiceData/IssuItemInformation/TaxRate", "EInvoiceData/IssuItemInformation/ComTaxAm",
    "EInvoiceData/IssuItemInformation/TotaltaxIncludedAmount",
    "EInvoiceData/IssuItemInformation/TaxClassificationCode",
    "EInvoiceData/SpecificInformation", "EInvoiceData/AdditionalInformation/Remark",
    "TaxSupervisionInfo/InvoiceNumber", "TaxSupervisionInfo/IssueTime",
    "TaxSupervisionInfo/TaxBureauCode", "TaxSupervisionInfo/TaxBureauName",
]


def test_written_xml_has_every_element_path_of_the_official_sample(demo):
    root = etree.fromstring(write_xml(demo))
    assert root.tag == "EInvoice"
    for path in OFFICIAL_PATHS:
        assert root.find(path) is not None, path
    assert len(root.findall("EInvoiceData/IssuItemInformation")) == 8
    assert root.findtext("Header/EIid") == root.findtext("TaxSupervisionInfo/InvoiceNumber") == demo.number
    assert root.findtext("Header/EInvoiceTag") == "SWEI3100"
    assert root.findtext("EInvoiceData/IssuItemInformation/TaxRate") == "0.060000"
    assert root.findtext("Header/InherentLabel/GeneralOrSpecialVAT/LabelName") == "增值税专用发票"


def test_xml_round_trip_gives_back_the_same_document(demo):
    back = read_xml(write_xml(demo))
    assert back == demo.with_changes(source_format="xml")


def test_red_invoice_round_trip_keeps_the_blue_number_and_sign():
    red = demo_document(red=True, total_in_words="负壹拾肆万柒仟伍佰贰拾玖圆玖角捌分")
    xml = write_xml(red)
    root = etree.fromstring(xml)
    assert root.findtext("Header/InherentLabel/InIssuType/LabelCode") == "N"
    assert "被红冲蓝字数电发票号码：25312000000123450001" in root.findtext("EInvoiceData/AdditionalInformation/Remark")
    back = read_xml(xml)
    assert back.is_red and back.blue_number == red.blue_number and back.red_form_number == red.red_form_number
    assert back.total_with_tax == Decimal("-147529.98")
    assert back == red.with_changes(source_format="xml")


def test_ordinary_invoice_is_labelled_ordinary(demo):
    root = etree.fromstring(write_xml(demo.with_changes(kind="82")))
    assert root.findtext("Header/InherentLabel/GeneralOrSpecialVAT/LabelCode") == "02"
    assert read_xml(etree.tostring(root)).kind == "82"


def test_words_come_from_the_kernel_when_missing(demo):
    words = pytest.importorskip("invoicing.words")
    root = etree.fromstring(write_xml(demo.with_changes(total_in_words="")))
    assert root.findtext("EInvoiceData/BasicInformation/TotalTax-includedAmountInChinese") == \
        words.amount_in_words(demo.total_with_tax)


# Variants seen in real files: namespaces, element order, 6% / 0.06, 元, negative lines, 2-decimal tax.
VARIANT = """<?xml version="1.0" encoding="UTF-8"?>
<einv:EInvoice xmlns:einv="urn:example:einv">
  <einv:TaxSupervisionInfo><einv:IssueTime>2026-07-18</einv:IssueTime>
    <einv:InvoiceNumber>26320000000000100001</einv:InvoiceNumber></einv:TaxSupervisionInfo>
  <einv:EInvoiceData>
    <einv:BasicInformation>
      <einv:TotalTaxAm>1.15</einv:TotalTaxAm><einv:TotalAmWithoutTax>38.39</einv:TotalAmWithoutTax>
      <einv:TotalTax-includedAmountInChinese>叁拾玖元伍角肆分</einv:TotalTax-includedAmountInChinese>
      <einv:TotalTax-includedAmount>39.54</einv:TotalTax-includedAmount>
      <einv:RequestTime>2026-07-18 23:45:14</einv:RequestTime><einv:Drawer>示例</einv:Drawer>
    </einv:BasicInformation>
    <einv:BuyerInformation><einv:BuyerName>xxxxxx有限责任公司</einv:BuyerName>
      <einv:BuyerIdNum>91320000000000003Y</einv:BuyerIdNum></einv:BuyerInformation>
    <einv:SellerInformation><einv:SellerName>示例出行服务有限公司示例分公司</einv:SellerName>
      <einv:SellerIdNum>91320000000000000X</einv:SellerIdNum></einv:SellerInformation>
    <einv:IssuItemInformation><einv:ItemName>*交通运输服务*客运服务费</einv:ItemName>
      <einv:Quantity>1</einv:Quantity><einv:UnPrice>39.35</einv:UnPrice><einv:Amount>39.35</einv:Amount>
      <einv:TaxRate>0.030000</einv:TaxRate><einv:ComTaxAm>1.18</einv:ComTaxAm>
      <einv:TaxClassificationCode>3010101020203000000</einv:TaxClassificationCode></einv:IssuItemInformation>
    <einv:IssuItemInformation><einv:ItemName>*交通运输服务*客运服务费</einv:ItemName>
      <einv:Amount>-0.96</einv:Amount><einv:TaxRate>3%</einv:TaxRate><einv:ComTaxAm>-0.03</einv:ComTaxAm>
    </einv:IssuItemInformation>
  </einv:EInvoiceData>
  <einv:Header><einv:InherentLabel><einv:GeneralOrSpecialVAT><einv:LabelCode>02</einv:LabelCode>
    </einv:GeneralOrSpecialVAT><einv:InIssuType><einv:LabelCode>Y</einv:LabelCode></einv:InIssuType>
  </einv:InherentLabel></einv:Header>
</einv:EInvoice>"""


def test_reader_is_namespace_and_order_agnostic_and_accepts_real_variants():
    doc = read_xml(VARIANT.encode())
    assert doc.number == "26320000000000100001"
    assert doc.kind == "82" and not doc.is_red
    assert doc.issue_date == date(2026, 7, 18) and doc.issue_time == time(23, 45, 14)
    assert (doc.total_amount, doc.total_tax, doc.total_with_tax) == (
        Decimal("38.39"), Decimal("1.15"), Decimal("39.54"))
    assert doc.total_in_words == "叁拾玖元伍角肆分"
    assert doc.seller.tax_id == "91320000000000000X" and doc.buyer.name == "xxxxxx有限责任公司"
    assert [ln.tax_rate for ln in doc.lines] == [Decimal("0.03"), Decimal("0.03")]
    assert doc.lines[1].amount == Decimal("-0.96") and doc.lines[1].tax == Decimal("-0.03")
    assert doc.lines[0].tax_code == "3010101020203000000" and doc.lines[0].short_name == "交通运输服务"


XBRL = """<?xml version="1.0" encoding="UTF-8"?>
<xbrli:xbrl xmlns:xbrli="http://www.xbrl.org/2003/instance" xmlns:einv="http://example.org/einv">
  <einv:InvoiceNumber contextRef="c">23440000000000100011</einv:InvoiceNumber>
  <einv:SellerName contextRef="c">示例照明（广东）有限公司</einv:SellerName>
  <einv:SellerIdNum contextRef="c">91442000MAXXXXXX3J</einv:SellerIdNum>
  <einv:TotalAmWithoutTax contextRef="c" unitRef="u" decimals="2">9000.00</einv:TotalAmWithoutTax>
  <einv:RequestTime contextRef="c">2023-11-13 20:05:10</einv:RequestTime>
  <einv:TotalTaxAm contextRef="c" unitRef="u" decimals="2">1170.00</einv:TotalTaxAm>
  <einv:TotalTax-includedAmount contextRef="c" unitRef="u" decimals="2">10170.00</einv:TotalTax-includedAmount>
  <einv:WhetherEinvoiceIsRedEinvoice contextRef="c">false</einv:WhetherEinvoiceIsRedEinvoice>
</xbrli:xbrl>"""


def test_reader_reads_the_xbrl_export():
    doc = read_xml(XBRL.encode())
    assert doc.number == "23440000000000100011" and doc.issue_date == date(2023, 11, 13)
    assert doc.seller.name == "示例照明（广东）有限公司"  # full-width brackets kept as they are
    assert (doc.total_amount, doc.total_tax, doc.total_with_tax) == (
        Decimal("9000.00"), Decimal("1170.00"), Decimal("10170.00"))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<EInvoice><Header><EIid>&lol9;</EIid></Header></EInvoice>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<EInvoice><Header><EIid>&x;</EIid></Header></EInvoice>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "external-entity"])
def test_entity_tricks_raise_unsafe_document(payload):
    with pytest.raises(UnsafeDocument):
        read_xml(payload)


def test_doctype_after_a_long_comment_is_still_refused():
    payload = b"<?xml version='1.0'?><!--" + b"x" * 10000 + b"-->" + BILLION_LAUGHS.split(b"?>", 1)[1]
    with pytest.raises(UnsafeDocument):
        read_xml(payload)


@pytest.mark.parametrize(("payload", "error"), [
    (b"<EInvoice><Header>", MalformedDocument),
    (b"", MalformedDocument),
    (b"\xff\xfe\x00garbage", MalformedDocument),
    (b"<html><body>hello</body></html>", UnsupportedDocument),
    (b"<EInvoice><Header><EIid>1</EIid></Header></EInvoice>", MalformedDocument),  # no date / totals
])
def test_bad_input_raises_typed_errors(payload, error):
    with pytest.raises(error):
        read_xml(payload)
    assert issubclass(error, DocumentError)


# ------------------------------------------------------------------------------------- hypothesis round trip

# CJK, ASCII, XML-special and full-width characters. Kangxi radicals are left out on purpose: readers fold them.
_ALPHABET = "发票税务局有限公司科技服务费上海杭州（）【】《》：；、，。·—abcXYZ019 &<>\"'%$#*/-_.é€😀"
_text = st.text(alphabet=_ALPHABET, min_size=1, max_size=20).map(str.strip).filter(bool)
_money = st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=2,
                     allow_nan=False, allow_infinity=False)
_rate = st.sampled_from([Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), Decimal("0.03"), Decimal("0.01"),
                         Decimal("0")])
_digits = st.text(alphabet="0123456789", min_size=1, max_size=6)


@st.composite
def _lines(draw):
    n = draw(st.integers(min_value=0, max_value=12))
    out = []
    for i in range(n):
        short = draw(_text.filter(lambda s: "*" not in s))
        amount = draw(_money)
        qty = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=9999).map(Decimal)))
        out.append(InvoiceLine(
            line_no=i + 1, item_name=f"*{short}*{draw(_text)}", short_name=short, amount=amount,
            spec=draw(st.one_of(st.just(""), _text)), unit=draw(st.one_of(st.just(""), _text)),
            quantity=qty, unit_price=None if qty is None else Decimal(draw(_digits)),
            tax_rate=draw(_rate), tax=draw(_money), tax_code=draw(st.text(alphabet="0123456789", min_size=19,
                                                                           max_size=19)),
        ))
    return tuple(out)


_party = st.builds(InvoiceParty, name=_text, tax_id=st.from_regex(r"[0-9A-Z]{15,20}", fullmatch=True),
                   address=st.one_of(st.just(""), _text), phone=st.one_of(st.just(""), _digits),
                   bank_name=st.one_of(st.just(""), _text), bank_account=st.one_of(st.just(""), _digits))


@st.composite
def documents(draw) -> InvoiceDocument:
    lines = draw(_lines())
    total = draw(_money)
    tax = draw(_money)
    red = draw(st.booleans())
    return InvoiceDocument(
        number=draw(st.from_regex(r"2[0-9]{19}", fullmatch=True)),
        kind=draw(st.sampled_from(["81", "82"])),
        issue_date=draw(st.dates(min_value=date(2019, 1, 1), max_value=date(2030, 12, 31))),
        issue_time=draw(st.one_of(st.none(), st.times().map(lambda t: t.replace(microsecond=0)))),
        seller=draw(_party), buyer=draw(_party), lines=lines,
        total_amount=total, total_tax=tax, total_with_tax=total + tax,
        total_in_words=draw(_text), remark=draw(st.one_of(st.just(""), _text)), drawer=draw(_text),
        is_red=red, blue_number=draw(st.from_regex(r"2[0-9]{19}", fullmatch=True)) if red else "",
        tax_bureau_code=draw(st.from_regex(r"1[0-9]{10}", fullmatch=True)), tax_bureau_name=draw(_text),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_xml_round_trip_property(doc):
    back = read_xml(write_xml(doc))
    assert back == doc.with_changes(source_format="xml")


def test_specific_business_fields_round_trip_with_chinese_names(demo):
    doc = demo.with_changes(specific_business_code="03",
                            specific_business={"建筑服务发生地": "广东省阳江市江城区", "PlateNumber": "粤A12345",
                                               "not a name": "dropped"})
    back = read_xml(write_xml(doc))
    assert back.specific_business_code == "03"
    assert back.specific_business == {"建筑服务发生地": "广东省阳江市江城区", "PlateNumber": "粤A12345"}


def test_the_system_check_finds_the_environment_probe():
    from invoicing.documents.pdf import documents_environment_problems

    assert isinstance(documents_environment_problems(), list)
