"""批量打印 in Chromium: finance selects invoices on the invoice list and prints them on A4 and A5 (one PDF, each
invoice on its own page, every page the face rendered alone, pixel for pixel); finance_sz sees and prints only
明远's; customer service gets no print action at all."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader

from delivery.rendering import invoice_to_document
from invoicing.documents.pdf import render_pdf
from invoicing.models import Event, Taxpayer
from issuing.platform.models import Invoice
from tests.delivery.factories import make_invoice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

YUNTU, MINGYUAN = "91440101MA5CYUN00U", "91440300MA5FM1NGYB"


@pytest.fixture
def issued(demo_world) -> dict[str, list[Invoice]]:
    """Invoices of both demo entities: 云途's three (a red one among them), 明远's two."""
    yuntu, mingyuan = (Taxpayer.objects.get(credit_code=code) for code in (YUNTU, MINGYUAN))
    blue = make_invoice(yuntu, lines=8)
    return {
        "yuntu": [blue, make_invoice(yuntu, lines=2), make_invoice(yuntu, blue=blue, lines=8)],
        "mingyuan": [make_invoice(mingyuan, lines=3), make_invoice(mingyuan, lines=1)],
    }


def _pages(pdf: bytes) -> list[tuple[tuple[int, int], bytes]]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [(img.size, img.tobytes()) for img in (doc[i].render(scale=110 / 72).to_pil() for i in range(len(doc)))]
    finally:
        doc.close()


def _keep_first_page(pdf: bytes, shots, paper: str) -> None:
    doc = pdfium.PdfDocument(pdf)
    try:
        shots.count += 1
        doc[0].render(scale=110 / 72).to_pil().save(shots.folder / f"{shots.count:02d}-printed-{paper}-page-1.png")
    finally:
        doc.close()


def _print(page, live_server, ids: list[int], action: str) -> bytes:
    page.goto(f"{live_server.url}/admin/issuing/invoice/")
    for pk in ids:
        page.check(f"input[name=_selected_action][value='{pk}']")
    page.select_option("select[name=action]", action)
    # The action answers with the PDF inline (Chromium shows it in its viewer): the answer is taken on its way in.
    answers: list[tuple[int, str, bytes]] = []

    def keep(route):
        if route.request.method != "POST":
            return route.continue_()
        response = route.fetch()
        answers.append((response.status, response.headers.get("content-type", ""), response.body()))
        return route.fulfill(response=response)

    page.route("**/admin/issuing/invoice/", keep)
    page.click("button[name=index]")
    page.wait_for_load_state()
    page.unroute("**/admin/issuing/invoice/")
    (status, content_type, body), = answers
    assert status == 200 and content_type == "application/pdf", (status, content_type)
    return body


def test_finance_prints_a_batch_on_both_papers_and_each_page_is_the_face(login, live_server, issued, shots):
    invoices = sorted(issued["yuntu"], key=lambda inv: (inv.issue_date, inv.number))  # the print order
    ids = [inv.pk for inv in invoices]
    page = login("finance")
    page.goto(f"{live_server.url}/admin/issuing/invoice/")
    options = page.locator("select[name=action] option").all_inner_texts()
    assert "批量打印（A4）" in options and "批量打印（A5）" in options
    shots(page, "invoice-list")

    for paper in ("A4", "A5"):
        pdf = _print(page, live_server, ids, f"invoices_print_{paper.lower()}")
        _keep_first_page(pdf, shots, paper)  # Chromium's PDF viewer draws nothing in a headless screenshot
        reader = PdfReader(io.BytesIO(pdf))
        assert len(reader.pages) == 3
        for pdf_page, invoice in zip(reader.pages, invoices, strict=True):
            assert invoice.number in pdf_page.extract_text()
        # Each page is the invoice's face as it is rendered alone (the file a buyer gets, on this paper).
        alone = [p for inv in invoices for p in _pages(render_pdf(invoice_to_document(inv), paper=paper))]
        assert _pages(pdf) == alone
    printed = Event.objects.filter(action="file.printed", object_id__in=[str(pk) for pk in ids])
    assert sorted(printed.values_list("data__paper", flat=True)) == ["A4"] * 3 + ["A5"] * 3


def test_an_entity_limited_user_prints_only_its_own_and_service_cannot_print(login, live_server, issued, shots):
    mingyuan, others = issued["mingyuan"], issued["yuntu"]
    page = login("finance_sz")
    page.goto(f"{live_server.url}/admin/issuing/invoice/")
    listed = {int(v) for v in page.locator("input[name=_selected_action]").evaluate_all("els => els.map(e => e.value)")}
    assert {inv.pk for inv in mingyuan} <= listed and not listed & {inv.pk for inv in others}
    pdf = _print(page, live_server, [inv.pk for inv in mingyuan], "invoices_print_a4")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert all(inv.number in text for inv in mingyuan) and others[0].number not in text
    shots(page, "finance-sz-list")

    service = login("service")
    service.goto(f"{live_server.url}/admin/issuing/invoice/")
    options = service.locator("select[name=action] option").all_inner_texts()
    assert options and not any("打印" in option for option in options)
    shots(service, "service-list")
