"""Compliance rules: each with a failing case, the good case passing, and all failures reported at once."""

from decimal import Decimal

import pytest

from invoicing.models import CounterpartyKind, TaxpayerType
from issuing.applications import compliance as applications_compliance
from issuing.applications import quota
from issuing.applications import selectors as application_selectors
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationLine, ApplicationStatus, InvoiceApplication
from tests.factories import tax_category
from tests.issuing.factories import CONSTRUCTION, SOFTWARE, SUMMARY, InvoiceApplicationFactory, policy

pytestmark = pytest.mark.django_db

INACTIVE_LEAF = "1070101019900000000"  # 其他汽油: a leaf that is no longer active
LEASE = "3040502020101000000"  # 公共住房租赁, 9%
FREIGHT = "3010102010100000000"  # 国内铁路货物运输服务, 9%
PASSENGER = "3010101010100000000"  # 国内铁路旅客运输服务, 9%


def make_app(taxpayer, *, lines=(("100.00", "6.00", "0.06", SOFTWARE, 0),), **fields):
    """An application with the given lines (amount, tax, rate, code, line property) and matching totals."""
    app = InvoiceApplicationFactory(taxpayer=taxpayer, lines=[], **fields)
    rows = []
    for no, (amount, tax, rate, code, prop) in enumerate(lines, start=1):
        rows.append(ApplicationLine(application=app, line_no=no, item_name="服务费", amount=Decimal(amount),
                                    tax=Decimal(tax), tax_rate=Decimal(rate), tax_category=tax_category(code),
                                    line_property=prop))
    ApplicationLine.objects.bulk_create(rows)
    amount = sum((r.amount for r in rows), Decimal("0.00"))
    tax = sum((r.tax for r in rows), Decimal("0.00"))
    InvoiceApplication.objects.filter(pk=app.pk).update(amount=amount, tax=tax, total=amount + tax)
    return InvoiceApplication.objects.get(pk=app.pk)


def codes(app):
    return {f.code for f in application_selectors.application_failures(app)}


def test_a_good_application_passes_every_rule(yuntu):
    assert application_selectors.application_failures(make_app(yuntu)) == []


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"kind": "01"}, "kind_issuable"),
        ({"buyer_name": ""}, "buyer_name"),
        ({"kind": "81", "buyer_tax_id": ""}, "buyer_tax_id"),
        ({"buyer_tax_id": ""}, "buyer_tax_id"),  # a company buyer needs its tax id even on 普票
        ({"buyer_tax_id": "91310000MA1K0BA10X"}, "buyer_tax_id"),
        ({"kind": "81"}, "special_buyer_details"),
        ({"kind": "85"}, "special_buyer_details"),
        ({"kind": "81", "buyer_kind": CounterpartyKind.PERSON, "buyer_tax_id": ""}, "natural_person"),
        ({"remark": "备" * 151}, "remark_length"),
    ],
)
def test_buyer_and_face_rules(yuntu, fields, code):
    assert code in codes(make_app(yuntu, **fields))


def test_buyer_field_lengths_are_checked_before_anything_is_saved(yuntu):
    app = InvoiceApplication(taxpayer=yuntu, buyer_name="白鹭", buyer_tax_id="91310000MA1K0BA10F", buyer_address="路" * 301)
    ctx = applications_compliance.Context(application=app, lines=[], taxpayer=yuntu, policy=None)
    assert [f.field for f in applications_compliance.buyer_field_lengths(ctx)] == ["buyer_address"]


def test_a_person_may_have_no_tax_id_on_an_ordinary_invoice(yuntu):
    app = make_app(yuntu, buyer_kind=CounterpartyKind.PERSON, buyer_tax_id="", buyer_name="张伟")
    assert codes(app) == set()


def test_special_invoice_with_a_complete_title_passes(yuntu):
    app = make_app(yuntu, kind="81", buyer_address="上海市静安区1号", buyer_phone="021-1",
                   buyer_bank_name="工行静安支行", buyer_bank_account="1001")
    assert codes(app) == set()


def test_remark_is_checked_in_bytes_too(yuntu):
    policy(yuntu, remark_max_chars=1000)
    assert "remark_length" in codes(make_app(yuntu, remark="备" * 151))  # 453 bytes
    assert "remark_length" not in codes(make_app(yuntu, remark="备" * 150))


def test_no_lines(yuntu):
    assert "lines_present" in codes(make_app(yuntu, lines=()))


def test_line_count_per_entity(yuntu):
    yuntu.max_lines_per_invoice = 2
    yuntu.save()
    app = make_app(yuntu, lines=[("100.00", "6.00", "0.06", SOFTWARE, 0)] * 3)
    assert "line_count" in codes(app)


@pytest.mark.parametrize("code", [SUMMARY, INACTIVE_LEAF])
def test_the_tax_category_must_be_an_active_leaf(yuntu, code):
    assert "tax_category_leaf" in codes(make_app(yuntu, lines=[("100.00", "13.00", "0.13", code, 0)]))


def test_the_rate_must_suit_the_category(yuntu):
    assert "rate_allowed" in codes(make_app(yuntu, lines=[("100.00", "13.00", "0.13", SOFTWARE, 0)]))
    assert "rate_allowed" not in codes(make_app(yuntu, lines=[("100.00", "3.00", "0.03", SOFTWARE, 0)]))  # 简易计税


def test_small_scale_taxpayers_use_levy_rates(yuntu):
    yuntu.taxpayer_type = TaxpayerType.SMALL
    yuntu.save()
    assert "rate_allowed" in codes(make_app(yuntu))  # 6%
    assert "rate_allowed" not in codes(make_app(yuntu, lines=[("100.00", "1.00", "0.01", SOFTWARE, 0)]))
    assert "rate_allowed" in codes(make_app(yuntu, lines=[("100.00", "9.00", "0.09", CONSTRUCTION, 0)]))


def test_negative_lines_only_as_discount_lines(yuntu):
    plain = make_app(yuntu, lines=[("100.00", "6.00", "0.06", SOFTWARE, 0), ("-10.00", "-0.60", "0.06", SOFTWARE, 0)])
    assert "negative_lines" in codes(plain)
    pair = make_app(yuntu, lines=[("100.00", "6.00", "0.06", SOFTWARE, 2), ("-10.00", "-0.60", "0.06", SOFTWARE, 1)])
    assert codes(pair) == set()
    orphan = make_app(yuntu, lines=[("-10.00", "-0.60", "0.06", SOFTWARE, 1), ("100.00", "6.00", "0.06", SOFTWARE, 0)])
    assert "negative_lines" in codes(orphan)


def test_quantity_and_price_go_together(yuntu):
    app = make_app(yuntu)
    ApplicationLine.objects.filter(application=app).update(quantity=Decimal("2"))
    assert "line_amounts" in codes(app)
    ApplicationLine.objects.filter(application=app).update(unit_price=Decimal("50"))
    assert "line_amounts" not in codes(app)
    ApplicationLine.objects.filter(application=app).update(unit_price=Decimal("60"))
    assert "line_amounts" in codes(app)


def test_line_and_invoice_tolerances(yuntu):
    assert "tolerance" in codes(make_app(yuntu, lines=[("100.00", "6.10", "0.06", SOFTWARE, 0)]))
    many = [("0.04", "0.01", "0.13", "1090101010000000000", 0)] * 300  # §8.2's worked example: 1.44 > 1.27
    failures = [f for f in application_selectors.application_failures(make_app(yuntu, lines=many)) if f.code == "tolerance"]
    assert len(failures) == 1 and "1.27" in failures[0].message


def test_totals_must_match_the_lines(yuntu):
    app = make_app(yuntu)
    InvoiceApplication.objects.filter(pk=app.pk).update(amount=Decimal("99.00"), total=Decimal("105.00"))
    app.refresh_from_db()
    assert "totals" in codes(app)


def test_quota(yuntu):
    quota.quota_set(actor=None, taxpayer=yuntu, month=application_selectors.quota_month(), total="50.00")
    assert "quota" in codes(make_app(yuntu))
    policy(yuntu, enforce_quota=False)
    assert "quota" not in codes(make_app(yuntu))


GOOD_SPECIFIC = {
    "03": {"jzfwfsd": "广东省广州市天河区", "jzxmmc": "珠江新城大厦", "kdsbz": "N"},
    "04": {"items": [{"ysgjzl": "铁路", "ysgjph": "K123", "qyd": "广州", "ddd": "上海", "yshwmc": "服务器"}]},
    "06": {"items": [{"cqzsbh": "粤2024广州不动产权第1号", "bdczldz": "广州市天河区1号",
                      "zlqq": "2026-01-01", "zlqz": "2026-12-31", "kdsbz": "N"}]},
    "09": {"items": [{"cxr": "张伟", "cxrzjlxDm": "201", "sfzjhm": "11010519491231002X", "chuxrq": "2026-11-01",
                      "cfd": "广州", "ddd": "上海", "zwdj": "二等座", "jtgjlxDm": "2"}]},
}
SPECIFIC_CODES = {"03": CONSTRUCTION, "04": FREIGHT, "06": LEASE, "09": PASSENGER}


@pytest.mark.parametrize("kind", list(GOOD_SPECIFIC))
def test_specific_business_with_its_fields_passes(yuntu, kind):
    app = make_app(yuntu, specific_business=kind, specific_business_data=GOOD_SPECIFIC[kind],
                   lines=[("100.00", "9.00", "0.09", SPECIFIC_CODES[kind], 0)])
    assert codes(app) == set()


@pytest.mark.parametrize(
    ("kind", "data", "fragment"),
    [
        ("03", {"jzxmmc": "大厦"}, "建筑服务发生地"),
        ("03", {"jzfwfsd": "广州", "jzxmmc": "大厦", "kdsbz": "X"}, "跨地（市）标志"),
        ("04", {}, "至少需要一条"),
        ("04", {"items": [{"qyd": "广州"}]}, "到达地"),
        ("06", {"items": [{"bdczldz": "广州", "zlqq": "2026-12-31", "zlqz": "2026-01-01"}]}, "租赁期止不能早于"),
        ("06", {"items": [{"bdczldz": "广州", "zlqq": "2026/01/01", "zlqz": "2026-12-31"}]}, "格式"),
        ("09", {"items": [{**GOOD_SPECIFIC["09"]["items"][0], "jtgjlxDm": "8"}]}, "交通工具类型代码"),
        ("09", {"items": [{"cxr": "张伟"}]}, "证件号码"),
        ("01", {}, "暂不支持"),
    ],
)
def test_specific_business_failures(yuntu, kind, data, fragment):
    app = make_app(yuntu, specific_business=kind, specific_business_data=data,
                   lines=[("100.00", "9.00", "0.09", SPECIFIC_CODES.get(kind, CONSTRUCTION), 0)])
    messages = [f.message for f in application_selectors.application_failures(app) if f.code == "specific_business"]
    assert any(fragment in m for m in messages), messages


def test_a_bad_application_lists_all_its_failures_at_once(yuntu, fiona):
    quota.quota_set(actor=None, taxpayer=yuntu, month=application_selectors.quota_month(), total="1.00")
    app = make_app(
        yuntu,
        kind="81",
        buyer_kind=CounterpartyKind.PERSON,
        buyer_tax_id="",
        remark="备" * 200,
        specific_business="03",
        specific_business_data={},
        lines=[("100.00", "13.00", "0.13", SUMMARY, 0), ("-5.00", "-0.30", "0.06", SOFTWARE, 0),
               ("100.00", "13.00", "0.13", SOFTWARE, 0)],
    )
    expected = {"buyer_tax_id", "special_buyer_details", "natural_person", "remark_length", "tax_category_leaf",
                "rate_allowed", "negative_lines", "quota", "specific_business"}
    assert expected <= codes(app)
    with pytest.raises(applications_compliance.ComplianceError) as exc:
        application_services.application_approve(application=app, actor=fiona)
    assert expected <= {f.code for f in exc.value.failures}
    assert len(exc.value.messages) == len(exc.value.failures) >= len(expected)
    app.refresh_from_db()
    assert app.status == ApplicationStatus.PENDING_REVIEW


def test_compliance_runs_again_before_issuing(yuntu, fiona):
    app = make_app(yuntu, status=ApplicationStatus.APPROVED)
    quota.quota_set(actor=None, taxpayer=yuntu, month=application_selectors.quota_month(), total="10.00")
    with pytest.raises(applications_compliance.ComplianceError) as exc:
        application_services.application_mark_issuing(application=app, actor=fiona)
    assert [f.code for f in exc.value.failures] == ["quota"]


def test_every_rule_is_named():
    assert applications_compliance.rule_codes() == [
        "kind_issuable", "buyer_name", "buyer_tax_id", "special_buyer_details", "natural_person",
        "buyer_field_lengths", "lines_present", "line_count", "remark_length", "tax_category_leaf", "rate_allowed",
        "negative_lines", "line_amounts", "tolerance", "totals", "quota", "paper_stock", "specific_business",
    ]
