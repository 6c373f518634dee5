"""测试连接 on the entity admin: each selected entity's channel tried, the outcome in words, never the secret; and the
channel chosen per entity in the admin (the secret write-only)."""

from __future__ import annotations

import socket

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from bench.soak import make_approved_applications
from invoicing import roles
from invoicing.channels import get_channel
from invoicing.channels.connection import ConnectionCheck, channel_connection_check
from invoicing.channels.nuonuo import NuonuoChannel
from invoicing.channels.sandbox import SandboxChannel
from invoicing.models import ChannelCall, Taxpayer
from issuing.applications.models import ApplicationStatus, InvoiceApplication
from issuing.redletter.models import RedLetterForm
from tests.channels.conftest import connect
from tests.delivery.factories import make_invoice

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:invoicing_taxpayer_changelist"


@pytest.fixture(autouse=True)
def _roles():
    roles.sync_role_permissions()


@pytest.fixture
def in_process(settings):
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"


def run_action(client, user, *taxpayers):
    client.force_login(user)
    response = client.post(reverse(CHANGELIST), {"action": "test_connection",
                                                 "_selected_action": [t.pk for t in taxpayers]})
    assert response.status_code == 302, response.content.decode()[:2000]
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the outcome in words ------------------------------------------------------------------------------------------


def test_a_nuonuo_entity_that_is_set_up_right_is_ok(client, ada, nn_seller):
    assert run_action(client, ada, nn_seller) == [("success", "云途（诺诺开放平台）：连接正常（签名、凭据与接口权限均已通过）")]
    assert ChannelCall.objects.filter(taxpayer=nn_seller, operation="issue_query", outcome="rejected").count() == 1


def test_a_wrong_secret_names_the_credentials_and_the_code_never_the_secret(client, ada, fake_nuonuo, nn_seller):
    nn_seller.channel_secret = "a-wrong-secret-value"
    nn_seller.save()
    ((level, text),) = run_action(client, ada, nn_seller)
    assert level == "error"
    assert text == "云途（诺诺开放平台）：平台拒绝了凭据或访问令牌，请核对通道账号（AppKey）与通道密钥（代码 070101）"
    assert "a-wrong-secret-value" not in text


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("error", "server"), ("rate_limit", "rate_limited"), ("session", "session"), ("timeout_before", "timeout")],
)
def test_each_kind_of_failure_is_named(fake_nuonuo, nn_seller, fault, kind):
    get_channel(nn_seller).check_connection()  # the token fetched: the forced fault hits the probe itself
    fake_nuonuo.force(fault)
    check = channel_connection_check(taxpayer=nn_seller)
    assert not check.ok and check.kind == kind


def test_a_platform_that_cannot_be_reached_is_a_network_failure(fake_nuonuo, nn_seller, settings):
    settings.NUONUO_TOKEN_URL = f"http://127.0.0.1:{closed_port()}/accessToken"
    settings.NUONUO_API_URL = f"http://127.0.0.1:{closed_port()}/open/v1/services"
    check = channel_connection_check(taxpayer=nn_seller)
    assert check.kind == "network" and check.words == "无法连接到平台（网络不通）"


def test_an_entity_without_credentials_is_not_called(client, ada, yuntu):
    yuntu.channel_app_key, yuntu.channel_secret = "", ""
    yuntu.save()
    assert run_action(client, ada, yuntu) == [("error", "云途（沙箱平台）：未填写通道账号（AppKey）或通道密钥")]
    assert not ChannelCall.objects.exists()


def test_the_sandbox_answers_too(client, ada, in_process, yuntu, mingyuan):
    connect(yuntu)
    connect(mingyuan)
    mingyuan.channel_secret = "not-the-accounts-secret"
    mingyuan.save()
    messages = run_action(client, ada, yuntu, mingyuan)
    assert messages == [
        ("success", "云途（沙箱平台）：连接正常（签名、凭据与接口权限均已通过）"),
        ("error", "明远（沙箱平台）：平台拒绝了凭据或访问令牌，请核对通道账号（AppKey）与通道密钥（代码 1001）"),
    ]


def test_a_platforms_message_and_an_unexpected_error_never_reach_the_words(nn_seller, monkeypatch):
    def boom(self):
        raise RuntimeError(f"secret={nn_seller.channel_secret}")

    monkeypatch.setattr(NuonuoChannel, "check_connection", boom)
    check = channel_connection_check(taxpayer=nn_seller)
    assert check.kind == "error" and nn_seller.channel_secret not in check.words
    assert ConnectionCheck("refused", "E9200").words == "平台拒绝了请求（代码 E9200）"


def test_only_users_who_may_change_entities_may_test_and_only_their_own(client, sam, lily, yuntu, mingyuan,
                                                                         in_process):
    connect(yuntu)
    connect(mingyuan)
    client.force_login(sam)  # customer service: may view entities, not change them
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200 and "test_connection" not in page.content.decode()
    # a finance user limited to 明远 selects 云途 too: only 明远 is tested
    messages = run_action(client, lily, yuntu, mingyuan)
    assert messages == [("success", "明远（沙箱平台）：连接正常（签名、凭据与接口权限均已通过）")]
    assert not ChannelCall.objects.filter(taxpayer=yuntu).exists()


# --- choosing the channel in the admin -----------------------------------------------------------------------------


def change_form_data(page):
    form = page.context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields}
    return {k: v for k, v in data.items() if v is not False} | {"is_active": "on"}


def test_the_channel_is_chosen_per_entity_with_a_write_only_secret(client, ada, fake_nuonuo, yuntu, mingyuan,
                                                                   in_process):
    connect(yuntu)
    connect(mingyuan)
    fake_nuonuo.add_app(app_key="nn-app-key", secret="nn-app-secret-1234", tax_no=yuntu.credit_code, name=yuntu.name)
    client.force_login(ada)
    url = reverse("admin:invoicing_taxpayer_change", args=[yuntu.pk])
    page = client.get(url)
    assert yuntu.channel_secret not in page.content.decode()
    data = change_form_data(page) | {"channel": "nuonuo", "channel_app_key": "nn-app-key",
                                     "channel_secret": "nn-app-secret-1234"}
    assert client.post(url, data).status_code == 302
    yuntu = Taxpayer.objects.get(pk=yuntu.pk)
    assert (yuntu.channel, yuntu.channel_app_key, yuntu.channel_secret) == ("nuonuo", "nn-app-key",
                                                                            "nn-app-secret-1234")
    assert isinstance(get_channel(yuntu), NuonuoChannel)
    assert isinstance(get_channel(Taxpayer.objects.get(pk=mingyuan.pk)), SandboxChannel)  # the other one stays
    page = client.get(url)
    assert "nn-app-secret-1234" not in page.content.decode()
    # saved again with the secret left blank: the secret is kept
    assert client.post(url, change_form_data(page) | {"channel_secret": ""}).status_code == 302
    assert Taxpayer.objects.get(pk=yuntu.pk).channel_secret == "nn-app-secret-1234"
    # (the messages of the saves above come first)
    assert run_action(client, ada, yuntu)[-1] == ("success", "云途（诺诺开放平台）：连接正常（签名、凭据与接口权限均已通过）")

    # and back to the sandbox
    assert client.post(url, change_form_data(client.get(url)) | {"channel": "sandbox"}).status_code == 302
    assert isinstance(get_channel(Taxpayer.objects.get(pk=yuntu.pk)), SandboxChannel)



def test_the_channel_does_not_change_while_work_is_in_flight_on_the_current_platform(client, ada, yuntu, in_process):
    connect(yuntu)
    (pk,) = make_approved_applications(yuntu, 1)
    InvoiceApplication.objects.filter(pk=pk).update(status=ApplicationStatus.ISSUING, issue_serial="SER-IN-FLIGHT")
    client.force_login(ada)
    url = reverse("admin:invoicing_taxpayer_change", args=[yuntu.pk])
    data = change_form_data(client.get(url)) | {"channel": "nuonuo"}
    page = client.post(url, data)
    assert page.status_code == 200
    assert "有 1 张申请单开票中，结果只能向原通道查询；请待其开票完成后再切换通道" in page.content.decode()
    assert Taxpayer.objects.get(pk=yuntu.pk).channel == "sandbox"
    # other changes still save while it is in flight
    assert client.post(url, data | {"channel": "sandbox", "drawer": "钱七"}).status_code == 302
    assert Taxpayer.objects.get(pk=yuntu.pk).drawer == "钱七"

    blue = make_invoice(yuntu)
    InvoiceApplication.objects.filter(pk=pk).update(status=ApplicationStatus.ISSUED)
    form = RedLetterForm.objects.create(taxpayer=yuntu, blue_invoice=blue, reason="01", status="02",
                                        amount=-blue.amount, tax=-blue.tax)
    page = client.post(url, data)
    assert "有 1 张红字确认单在原通道办理中；请待其办结后再切换通道" in page.content.decode()
    assert Taxpayer.objects.get(pk=yuntu.pk).channel == "sandbox"

    RedLetterForm.objects.filter(pk=form.pk).update(status="08")
    assert client.post(url, data).status_code == 302
    assert Taxpayer.objects.get(pk=yuntu.pk).channel == "nuonuo"
