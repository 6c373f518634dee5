"""The issuing admin for each role: pages, buttons, the review flow through the admin, files and query counts."""

from decimal import Decimal
from itertools import count

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoicing.events import events_for
from issuing.applications import quota
from issuing.applications import services as application_services
from issuing.applications.models import ApplicationStatus as S
from issuing.applications.models import InvoiceApplication
from issuing.billing import services as billing_services
from issuing.billing.models import ApplicationTrigger, BillingDocument, IssuingPolicy
from issuing.platform.models import Invoice
from tests.factories import CounterpartyFactory
from tests.issuing.factories import InvoiceApplicationFactory, issued, make_document, software_line

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "admin:issuing_invoiceapplication_changelist",
    "admin:issuing_billingdocument_changelist",
    "admin:issuing_invoice_changelist",
    "admin:issuing_quotaperiod_changelist",
]


def _issued_invoice(yuntu, person, number="26442000000000000101"):
    doc = make_document(yuntu, counterparty=person)
    app = application_services.application_create(actor=None, taxpayer=yuntu, sources=[doc])
    app = application_services.application_approve(application=app, actor=None)
    app = application_services.application_mark_issuing(application=app, actor=None)
    return issued(app, number)


@pytest.mark.parametrize("user_fixture", ["sam", "fiona", "ada"])
def test_every_role_opens_the_changelists_and_change_pages(client, request, yuntu, person, user_fixture):
    user = request.getfixturevalue(user_fixture)
    client.force_login(user)
    invoice = _issued_invoice(yuntu, person)
    for name in CHANGELISTS[:3]:
        assert client.get(reverse(name)).status_code == 200, name
    assert client.get(reverse("admin:issuing_invoiceapplication_change", args=[invoice.application_id])).status_code == 200
    assert client.get(reverse("admin:issuing_invoice_change", args=[invoice.pk])).status_code == 200
    doc = invoice.application.sources.get().billing_document
    assert client.get(reverse("admin:issuing_billingdocument_change", args=[doc.pk])).status_code == 200


def test_customer_service_sees_no_file_links_and_the_download_url_is_403(client, sam, fiona, yuntu, person):
    invoice = _issued_invoice(yuntu, person)
    url = reverse("admin:issuing_invoice_download", args=[invoice.pk, "pdf"])
    client.force_login(sam)
    page = client.get(reverse("admin:issuing_invoice_change", args=[invoice.pk])).content.decode()
    files = reverse("delivery:invoice_file", args=[invoice.pk, "pdf"])
    assert "fapiao-file" not in page and url not in page and files not in page
    assert client.get(url).status_code == 403
    assert client.get(files).status_code == 403
    client.force_login(fiona)
    page = client.get(reverse("admin:issuing_invoice_change", args=[invoice.pk])).content.decode()
    assert url in page
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == files


def test_customer_service_has_no_quota_page_and_finance_does(client, sam, fiona):
    client.force_login(sam)
    assert client.get(reverse("admin:issuing_quotaperiod_changelist")).status_code == 403
    client.force_login(fiona)
    assert client.get(reverse("admin:issuing_quotaperiod_changelist")).status_code == 200


def test_customer_service_creates_claims_and_finance_approves_in_the_admin(client, sam, fiona, yuntu, buyer):
    doc = make_document(yuntu, counterparty=buyer, lines=[software_line("1272.00")], external_no="SHOP-1")
    client.force_login(sam)
    data = {
        "taxpayer": yuntu.pk, "kind": "82", "counterparty": buyer.pk, "documents": "SHOP-1",
        "delivery_email": "a@example.com", "submit": "on",
        "lines-TOTAL_FORMS": "3", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "50",
    }
    response = client.post(reverse("admin:issuing_invoiceapplication_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    app = InvoiceApplication.objects.get(sources__billing_document=doc)
    assert app.status == S.PENDING_REVIEW and app.total == Decimal("1272.00")
    change = reverse("admin:issuing_invoiceapplication_change", args=[app.pk])
    page = client.get(change).content.decode()
    assert 'data-transition="claim"' in page and 'data-transition="start_issuing"' not in page
    client.post(reverse("admin:issuing_invoiceapplication_transition", args=[app.pk, "claim"]))
    app.refresh_from_db()
    assert app.status == S.IN_REVIEW and app.reviewer == sam
    page = client.get(change).content.decode()
    assert 'data-transition="approve"' in page and 'data-transition="reject"' in page
    response = client.post(reverse("admin:issuing_invoiceapplication_transition", args=[app.pk, "approve"]), follow=True)
    app.refresh_from_db()
    assert app.status == S.APPROVED  # customer service approves; issuing is finance's
    assert "已批准 1 张申请单" in response.content.decode()
    client.force_login(fiona)
    assert 'data-transition="start_issuing"' in client.get(change).content.decode()


def test_finance_approving_in_the_admin_also_starts_issuing(client, fiona, yuntu, django_capture_on_commit_callbacks):
    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.IN_REVIEW, reviewer=fiona)
    client.force_login(fiona)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("admin:issuing_invoiceapplication_transition", args=[app.pk, "approve"]),
                                follow=True)
    app.refresh_from_db()
    assert app.status == S.ISSUING and app.issue_serial == app.number
    assert "已批准 1 张申请单" in response.content.decode()
    assert len(callbacks) >= 1  # the issuing task, queued once the approval and the intent are committed


def test_customer_service_rejects_with_a_reason_in_the_admin(client, sam, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.IN_REVIEW, reviewer=sam)
    client.force_login(sam)
    url = reverse("admin:issuing_invoiceapplication_transition", args=[app.pk, "reject"])
    client.post(url, {"reason": ""})
    app.refresh_from_db()
    assert app.status == S.IN_REVIEW
    client.post(url, {"reason": "抬头与营业执照不符"})
    app.refresh_from_db()
    assert app.status == S.REJECTED and app.reject_reason == "抬头与营业执照不符"


def test_a_bad_application_shows_all_its_failures_on_the_change_page(client, fiona, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu, kind="81", buyer_tax_id="", remark="备" * 200)
    client.force_login(fiona)
    page = client.get(reverse("admin:issuing_invoiceapplication_change", args=[app.pk])).content.decode()
    for rule in ("buyer_tax_id", "special_buyer_details", "remark_length"):
        assert f'data-rule="{rule}"' in page


def test_lily_gets_404_for_yuntus_application(client, lily, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu)
    client.force_login(lily)
    assert client.get(reverse("admin:issuing_invoiceapplication_change", args=[app.pk])).status_code == 302
    assert client.post(reverse("admin:issuing_invoiceapplication_transition", args=[app.pk, "claim"])).status_code == 404
    app.refresh_from_db()
    assert app.status == S.PENDING_REVIEW


def test_no_delete_for_applications_past_draft_or_documents_with_applications(client, ada, yuntu, person):
    client.force_login(ada)
    pending = InvoiceApplicationFactory(taxpayer=yuntu)
    draft = InvoiceApplicationFactory(taxpayer=yuntu, status=S.DRAFT)
    assert client.get(reverse("admin:issuing_invoiceapplication_delete", args=[pending.pk])).status_code == 403
    assert client.get(reverse("admin:issuing_invoiceapplication_delete", args=[draft.pk])).status_code == 200
    doc = make_document(yuntu, counterparty=person)
    application_services.application_create(actor=None, taxpayer=yuntu, sources=[doc])
    assert client.get(reverse("admin:issuing_billingdocument_delete", args=[doc.pk])).status_code == 403
    invoice = _issued_invoice(yuntu, person, number="26442000000000000199")
    assert client.get(reverse("admin:issuing_invoice_delete", args=[invoice.pk])).status_code == 403


def test_the_queue_lists_pending_review_first(client, sam, yuntu):
    later = InvoiceApplicationFactory(taxpayer=yuntu, status=S.APPROVED)
    first = InvoiceApplicationFactory(taxpayer=yuntu, status=S.PENDING_REVIEW)
    client.force_login(sam)
    page = client.get(reverse("admin:issuing_invoiceapplication_changelist")).content.decode()
    assert page.index(first.number) < page.index(later.number)


def test_bulk_approval_reports_what_does_not_fit_the_quota(client, fiona, yuntu):
    from issuing.applications.selectors import quota_month

    quota.quota_set(actor=None, taxpayer=yuntu, month=quota_month(), total="150.00")
    apps = [InvoiceApplicationFactory(taxpayer=yuntu) for _ in range(2)]
    client.force_login(fiona)
    response = client.post(
        reverse("admin:issuing_invoiceapplication_changelist"),
        {"action": "approve_selected", "_selected_action": [a.pk for a in apps]},
        follow=True,
    )
    text = response.content.decode()
    assert "已批准 1 张，未批准 1 张" in text and apps[1].number in text


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("name", CHANGELISTS)
def test_changelists_run_a_constant_number_of_queries(client, fiona, yuntu, name):
    client.force_login(fiona)
    buyer = CounterpartyFactory(taxpayer=yuntu)
    serial = count(1)

    def add(n):
        for _ in range(n):
            i = next(serial)
            if "invoiceapplication" in name:
                InvoiceApplicationFactory(taxpayer=yuntu, reviewer=fiona)
            elif "billingdocument" in name:
                make_document(yuntu, counterparty=buyer)
            elif "quotaperiod" in name:
                quota.quota_set(actor=None, taxpayer=yuntu, month=f"{1900 + i}-01", total="1")
            else:
                app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.ISSUING)
                issued(app, f"2644200000{i:010d}")

    url = reverse(name)
    add(5)
    few = _count(client, url)
    add(45)
    many = _count(client, url)
    assert few == many
    assert Invoice.objects.count() in (0, 50)


def test_customer_service_creates_an_application_from_entered_lines(client, sam, yuntu, person):
    client.force_login(sam)
    data = {
        "taxpayer": yuntu.pk, "kind": "82", "counterparty": person.pk, "documents": "", "submit": "on",
        "lines-TOTAL_FORMS": "3", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "50",
        "lines-0-item_name": "软件技术服务费", "lines-0-amount": "212.00", "lines-0-tax_category": "3040201000000000000",
        "lines-0-tax_rate": "0.06",
    }
    response = client.post(reverse("admin:issuing_invoiceapplication_add"), data)
    assert response.status_code == 302
    app = InvoiceApplication.objects.get()
    assert (app.amount, app.tax, app.buyer_name, app.created_by) == (Decimal("200.00"), Decimal("12.00"), "张伟", sam)
    bad = {**data, "counterparty": "", "lines-0-tax_category": "1000000000000000000"}
    page = client.post(reverse("admin:issuing_invoiceapplication_add"), bad).content.decode()
    assert "购买方" in page and InvoiceApplication.objects.count() == 1


def test_editing_the_title_before_approval_is_recorded(client, sam, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu)
    client.force_login(sam)
    change = reverse("admin:issuing_invoiceapplication_change", args=[app.pk])
    data = {f: getattr(app, f) for f in ("buyer_kind", "buyer_name", "buyer_tax_id", "buyer_address", "buyer_phone",
                                          "buyer_bank_name", "buyer_bank_account", "delivery_email", "delivery_mobile",
                                          "remark")}
    data.update({"delivery_email": "new@example.com", "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "1",
                 "sources-TOTAL_FORMS": "0", "sources-INITIAL_FORMS": "0"})
    for prefix in ("lines", "sources"):
        data[f"{prefix}-MIN_NUM_FORMS"] = "0"
        data[f"{prefix}-MAX_NUM_FORMS"] = "1000"
    response = client.post(change, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    app.refresh_from_db()
    assert app.delivery_email == "new@example.com"
    assert events_for(app).filter(action="edit").exists()


def test_finance_splits_and_records_a_refund_in_the_admin(client, fiona, yuntu, buyer):
    doc = make_document(yuntu, counterparty=buyer, lines=[software_line("1000.00"), software_line("500.00")])
    app = application_services.application_create(actor=fiona, taxpayer=yuntu, sources=[doc])
    client.force_login(fiona)
    split = reverse("admin:issuing_invoiceapplication_split", args=[app.pk])
    assert client.get(split).status_code == 200
    response = client.post(split, {"amounts": "300.00, 700.00"}, follow=True)
    assert "已拆分为 3 张申请单" in response.content.decode()
    assert sorted(InvoiceApplication.objects.filter(split_from=app).values_list("total", flat=True)) == [
        Decimal("300.00"), Decimal("500.00"), Decimal("700.00")]
    refund = reverse("admin:issuing_billingdocument_refund", args=[doc.pk])
    response = client.post(refund, {"amount": "100.00", "reason": "退货"}, follow=True)
    assert "已登记退款 1 笔" in response.content.decode()
    doc.refresh_from_db()
    assert doc.refunded_amount == Decimal("100.00")


def test_customer_service_gets_no_print_actions_and_changelists_offer_exports(client, sam, fiona):
    client.force_login(sam)
    page = client.get(reverse("admin:issuing_invoice_changelist")).content.decode()
    assert "invoices_print_a4" not in page
    client.force_login(fiona)
    page = client.get(reverse("admin:issuing_invoice_changelist")).content.decode()
    assert "invoices_print_a4" in page and "fapiao-export" in page
    assert "fapiao-export" in client.get(reverse("admin:issuing_invoiceapplication_changelist")).content.decode()


def test_an_application_needing_attention_offers_the_reissue_page_to_finance(client, fiona, sam, yuntu):
    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.ISSUING, needs_attention=True, issue_serial="SQX-1")
    change = reverse("admin:issuing_invoiceapplication_change", args=[app.pk])
    client.force_login(fiona)
    page = client.get(change).content.decode()
    reissue = reverse("admin:issuing_invoiceapplication_reissue", args=[app.pk])
    assert reissue in page
    client.force_login(sam)
    assert reissue not in client.get(change).content.decode()


def test_detail_pages_show_flags_that_are_not_set_as_nothing_rather_than_a_red_cross(client, fiona, yuntu, person):
    """A blue invoice is not "red: ✖", an application approved by a person is not "auto-approved: ✖"."""
    invoice = _issued_invoice(yuntu, person)
    client.force_login(fiona)
    for url in (reverse("admin:issuing_invoice_change", args=[invoice.pk]),
                reverse("admin:issuing_invoiceapplication_change", args=[invoice.application_id])):
        page = client.get(url).content.decode()
        assert "icon-no.svg" not in page, url
    page = client.get(reverse("admin:issuing_invoice_change", args=[invoice.pk])).content.decode()
    assert "红字发票" in page  # the row is still there, empty for a blue invoice
    from django.contrib import admin

    invoice_admin = admin.site._registry[Invoice]
    assert invoice_admin.red_mark(invoice) == ""
    invoice.is_red = True
    assert 'class="fapiao-red"' in invoice_admin.red_mark(invoice)


def test_deleting_a_document_in_the_admin_goes_through_the_service_and_is_recorded(client, ada, yuntu, person):
    doc = make_document(yuntu, counterparty=person, external_no="SO-DEL")
    client.force_login(ada)
    response = client.post(reverse("admin:issuing_billingdocument_delete", args=[doc.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not BillingDocument.objects.filter(pk=doc.pk).exists()
    event = events_for(doc).get(action="delete")
    assert (event.actor, event.from_state, event.data["external_no"]) == (ada, "open", "SO-DEL")


def test_the_service_refuses_to_delete_a_document_with_applications_or_without_the_permission(yuntu, person, ada,
                                                                                              sam):
    doc = make_document(yuntu, counterparty=person)
    application_services.application_create(actor=None, taxpayer=yuntu, sources=[doc])
    with pytest.raises(ValidationError):
        billing_services.billing_document_delete(document=doc, actor=ada)
    free = make_document(yuntu, counterparty=person, external_no="SO-2")
    with pytest.raises(PermissionDenied):
        billing_services.billing_document_delete(document=free, actor=sam)


def test_issuing_settings_are_changed_through_the_service_and_recorded(client, fiona, ada, yuntu):
    client.force_login(ada)
    add = reverse("admin:issuing_issuingpolicy_add")
    form = client.get(add).context["adminform"].form
    data = {name: field.initial if field.initial is not None else "" for name, field in form.fields.items()}
    data = {k: v for k, v in data.items() if v is not False}
    data.update({"taxpayer": yuntu.pk, "application_trigger": ApplicationTrigger.ON_PAYMENT})
    response = client.post(add, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = IssuingPolicy.objects.get(taxpayer=yuntu)
    assert policy.application_trigger == ApplicationTrigger.ON_PAYMENT
    created = events_for(policy).get(action="policy_change")
    assert created.data["taxpayer"] == str(yuntu) and created.data["application_trigger"] == "on_payment"
    client.force_login(fiona)
    change = reverse("admin:issuing_issuingpolicy_change", args=[policy.pk])
    assert b'name="taxpayer"' not in client.get(change).content  # the entity of its settings is read-only
    data.pop("taxpayer")
    data.update({"auto_approve": "on", "auto_approve_person_limit": "100.00"})
    assert client.post(change, data).status_code == 302
    policy.refresh_from_db()
    assert policy.auto_approve and policy.auto_approve_person_limit == Decimal("100.00")
    changed = events_for(policy).filter(action="policy_change").order_by("pk").last()
    assert changed.actor == fiona
    assert changed.data == {"auto_approve": "True", "auto_approve_person_limit": "100.00"}


def test_an_application_approved_meanwhile_is_not_edited(yuntu, sam):
    app = InvoiceApplicationFactory(taxpayer=yuntu, status=S.APPROVED)
    with pytest.raises(ValidationError):
        application_services.application_edit(application=app, actor=sam, changes={"remark": "改"})
    with pytest.raises(ValueError):
        application_services.application_edit(application=app, actor=sam, changes={"total": "1.00"})
    app.refresh_from_db()
    assert app.remark != "改"


def test_the_application_page_captions_its_sources_with_the_document_and_the_amount_as_money(client, fiona, yuntu):
    from issuing.applications.models import ApplicationSource

    doc = make_document(yuntu, external_no="SHOP-7")
    app = InvoiceApplicationFactory(taxpayer=yuntu)
    ApplicationSource.objects.create(application=app, billing_document=doc, amount=Decimal("10600.00"))
    client.force_login(fiona)
    page = client.get(reverse("admin:issuing_invoiceapplication_change", args=[app.pk])).content.decode()
    assert "SHOP-7: 10,600.00" in page and "10600.00" not in page and " ← " not in page
