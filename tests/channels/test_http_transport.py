"""The HTTP transport against a live server behaves like the in-process one."""

from __future__ import annotations

import re
import socket

import pytest

from invoicing.channels import get_channel
from invoicing.channels.base import ChannelDuplicate, ChannelRejected, ChannelUnavailable, Party
from invoicing.channels.sandbox import HttpTransport
from invoicing.models import ChannelCall
from sandbox.models import LedgerInvoice
from tests.channels.conftest import connect, issue_request


@pytest.mark.django_db(transaction=True)
def test_http_transport_issues_queries_and_maps_errors_like_in_process(live_server, settings, yuntu):
    settings.SANDBOX_URL = live_server.url + "/sandbox/api/"
    seller = connect(yuntu)
    channel = get_channel(seller, transport="http")
    assert channel.transport.name == "http"

    request = issue_request(seller)
    issued = channel.issue_invoice(request)
    assert issued.status == "issued" and re.fullmatch(r"\d{20}", issued.invoice_number)
    with pytest.raises(ChannelDuplicate):
        channel.issue_invoice(request)
    assert channel.query_issue(request.serial).invoice_number == issued.invoice_number
    with pytest.raises(ChannelRejected) as exc:
        channel.issue_invoice(issue_request(seller, buyer=Party("无税号")))
    assert exc.value.code == "3103"

    lost = issue_request(seller)
    with pytest.raises(ChannelUnavailable) as unavailable:
        channel.with_fault("timeout_after").issue_invoice(lost)
    assert unavailable.value.kind == "timeout"
    assert LedgerInvoice.objects.filter(serial=lost.serial).exists()
    assert ChannelCall.objects.filter(transport="http").count() == 5


def test_a_server_that_does_not_answer_in_time_is_unavailable(yuntu):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        channel = get_channel(yuntu, transport="inprocess")
        channel.transport = HttpTransport(f"http://127.0.0.1:{silent.getsockname()[1]}/", read_timeout=0.3)
        with pytest.raises(ChannelUnavailable) as exc:
            channel.get_quota()
    finally:
        silent.close()
    assert exc.value.kind == "timeout"
    assert ChannelCall.objects.get().outcome == "unavailable"
