"""The entity admin in Chromium: 测试连接 on the sandbox, then the entity moved to Nuonuo (the fake server) in its
form, tested again, and a wrong secret named as refused credentials without showing it."""

from __future__ import annotations

import pytest

from invoicing.models import Taxpayer
from sandbox import demo as sandbox_demo
from tests.channels.fake_nuonuo import FakeNuonuo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

YUNTU = "91440101MA5CYUN00U"


@pytest.fixture
def fake(settings):
    server = FakeNuonuo().start()
    settings.NUONUO_API_URL = server.api_url
    settings.NUONUO_TOKEN_URL = server.token_url
    settings.NUONUO_READ_TIMEOUT = 3
    settings.TAX_CHANNEL_TRANSPORT = "inprocess"
    yield server
    server.stop()


def test_connection_from_the_entity_list_and_a_move_to_nuonuo(login, live_server, demo_world, fake, shots):
    sandbox_demo.seed()  # the demo entities' sandbox accounts
    fake.add_app(app_key="nn-yuntu-app", secret="nn-yuntu-secret-0001", tax_no=YUNTU, name="广州云途出行科技有限公司")
    yuntu = Taxpayer.objects.get(credit_code=YUNTU)
    page = login("finance")
    changelist = f"{live_server.url}/admin/invoicing/taxpayer/"

    def test_connection() -> str:
        page.goto(changelist)
        page.check(f"input[name=_selected_action][value='{yuntu.pk}']")
        page.select_option("select[name=action]", "test_connection")
        page.click("button[name=index]")
        page.wait_for_selector(".messagelist")
        return page.inner_text(".messagelist")

    assert "云途出行（沙箱平台）：连接正常" in test_connection()
    shots(page, "sandbox-ok")

    page.goto(f"{changelist}{yuntu.pk}/change/")
    assert "yuntu-sandbox-secret" not in page.content()  # write-only
    page.select_option("#id_channel", "nuonuo")
    page.fill("#id_channel_app_key", "nn-yuntu-app")
    page.fill("#id_channel_secret", "nn-yuntu-secret-0001")
    shots(page, "moved-to-nuonuo")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    assert "云途出行（诺诺开放平台）：连接正常" in test_connection()
    shots(page, "nuonuo-ok")

    page.goto(f"{changelist}{yuntu.pk}/change/")
    assert "nn-yuntu-secret-0001" not in page.content()
    page.fill("#id_channel_secret", "a-mistyped-secret")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    words = test_connection()  # signed with the wrong secret: the gateway's 070601
    assert "云途出行（诺诺开放平台）：平台拒绝了凭据或访问令牌" in words and "（代码 070601）" in words, words
    assert "a-mistyped-secret" not in page.content()
    shots(page, "nuonuo-refused")
