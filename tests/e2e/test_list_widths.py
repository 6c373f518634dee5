"""The invoice, application and billing-document lists fit a 1440×900 screen with the admin's navigation sidebar: the
status column (the rightmost key column) is on screen, not cut off or behind a horizontal scroll bar, for finance and
for customer service, with the demo's documents and applications and a few issued invoices."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTS = {
    "invoices": ("/admin/issuing/invoice/", "status"),
    "applications": ("/admin/issuing/invoiceapplication/", "status_display"),
    "billing-documents": ("/admin/issuing/billingdocument/", "status"),
}


@pytest.fixture
def world(settings):
    """The demo (entities, users, documents, applications) and its approved applications issued in the sandbox."""
    from invoicing.demo import seed as seed_kernel
    from invoicing.models import Taxpayer
    from issuing.applications import services as application_services
    from issuing.applications.models import ApplicationStatus, InvoiceApplication
    from issuing.demo import seed as seed_issuing
    from issuing.platform import services as platform_services
    from issuing.platform.models import Invoice
    from sandbox import services as sandbox

    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    settings.ISSUING_RETRY_BASE_SECONDS = 0
    seed_kernel()
    seed_issuing()
    for entity in Taxpayer.objects.all():
        sandbox.account_ensure(credit_code=entity.credit_code, name=entity.name, app_key=entity.channel_app_key,
                               secret=entity.channel_secret, region_code=entity.region_code)
    from django.contrib.auth import get_user_model



    finance = get_user_model().objects.get(username="finance")
    for application in InvoiceApplication.objects.filter(status=ApplicationStatus.PENDING_REVIEW):
        application_services.application_approve(application=application, actor=finance)  # company buyers too
    for application in InvoiceApplication.objects.filter(status=ApplicationStatus.APPROVED):
        platform_services.application_submit_issue(application=application, actor=finance)
    assert Invoice.objects.filter(number__regex=r"^\d{20}$").count() >= 5
    assert Invoice.objects.exclude(buyer_tax_id="").exists()


def _status_header_on_screen(page, column: str) -> tuple[bool, dict]:
    return page.evaluate(
        """column => {
            const th = document.querySelector(`#result_list thead th.column-${column}`);
            const results = document.querySelector('#changelist .results');
            const box = th.getBoundingClientRect(), frame = results.getBoundingClientRect();
            const right = Math.min(window.innerWidth, frame.right);
            const figures = {th_left: box.left, th_right: box.right, visible_right: right,
                             table_width: document.querySelector('#result_list').scrollWidth,
                             results_width: results.clientWidth, viewport: window.innerWidth,
                             columns: [...document.querySelectorAll('#result_list thead th')].map(
                                 t => t.className.replace('sortable ', '') + ':' + Math.round(t.offsetWidth))};
            return [box.left >= 0 && box.right <= right + 0.5 && results.scrollWidth <= results.clientWidth + 1,
                    figures];
        }""",
        column,
    )


@pytest.mark.parametrize("username", ["finance", "service"])
def test_the_lists_fit_1440_with_their_status_column(login, live_server, world, shots, username):
    page = login(username)
    assert page.viewport_size == {"width": 1440, "height": 900}
    checked = 0
    for name, (url, column) in LISTS.items():
        response = page.goto(f"{live_server.url}{url}")
        if response.status == 403:
            continue  # a list this role does not see
        assert page.locator("#nav-sidebar").count() == 1
        assert page.locator("#result_list tbody tr").count() >= 3, name
        fits, figures = _status_header_on_screen(page, column)
        page.screenshot(path=str(shots.folder / f"{name}.png"))  # the first screen, as the user sees it
        shots(page, name)
        assert fits, f"{name}: {figures}"
        checked += 1
    assert checked >= 2
