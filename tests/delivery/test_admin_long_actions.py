"""Long actions say what started and where to watch it: a batch print too big for one response becomes a print job,
and the page it lands on says so, with the way back to it."""

from __future__ import annotations

import pytest
from django.contrib.messages import constants
from django.urls import reverse

from delivery.models import PrintJob
from issuing.platform.models import Invoice

pytestmark = pytest.mark.django_db


def test_a_big_batch_print_lands_on_its_job_page_with_a_word_on_where_to_find_it(
        client, fiona, yuntu, invoice, settings, django_capture_on_commit_callbacks):
    from tests.delivery.factories import make_invoice

    settings.DELIVERY_BATCH_PRINT_INLINE_MAX = 1
    make_invoice(yuntu)
    client.force_login(fiona)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("admin:issuing_invoice_changelist"),
                               {"action": "invoices_print_a4",
                                "_selected_action": list(Invoice.objects.values_list("pk", flat=True))})
    job = PrintJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("delivery:print_job", args=[job.pk])
    page = client.get(response["Location"])
    shown = [(m.level, str(m)) for m in page.context["messages"]]
    assert any(level == constants.INFO and "已开始生成 2 张发票的打印文件" in text
               and reverse("admin:delivery_printjob_changelist") in text for level, text in shown), shown
