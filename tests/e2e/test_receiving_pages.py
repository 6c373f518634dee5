"""Receiving as a finance user meets it in the browser: the pool fits the screen, an upload of several files ends on
the batch page with each file's result, a scanner gun's scans show their result without a page reload."""

from __future__ import annotations

import pytest

from tests.receiving.conftest import as_ofd, as_xml, small_document

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pool_world(demo_world):
    from receiving.demo import seed

    seed()


def test_the_pool_fits_the_screen_and_the_upload_shows_each_file_s_result(login, live_server, pool_world, shots,
                                                                         tmp_path):
    page = login("finance")
    page.goto(f"{live_server.url}/admin/receiving/receivedinvoice/")
    shots(page, "pool")
    header = page.locator("#result_list thead th.column-use_state")
    box = header.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1440
    assert page.evaluate("document.querySelector('#changelist .results').scrollWidth <= "
                         "document.querySelector('#changelist .results').clientWidth + 1")
    page.click("text=上传发票文件")
    doc = small_document(number="25312000000000000981", buyer=("广州云途出行科技有限公司", "91440101MA5CYUN00U"))
    (tmp_path / "a.xml").write_bytes(as_xml(doc))
    (tmp_path / "a.ofd").write_bytes(as_ofd(doc))
    (tmp_path / "empty.pdf").write_bytes(b"")
    page.select_option("#id_taxpayer", label="云途出行")
    page.set_input_files("#id_files", [str(tmp_path / n) for n in ("a.xml", "a.ofd", "empty.pdf")])
    shots(page, "upload")
    page.click("input[type=submit]")
    page.wait_for_selector("#fapiao-items tbody tr:nth-child(3)")
    shots(page, "batch")
    rows = page.locator("#fapiao-items tbody tr").all_inner_texts()
    assert "新建" in rows[0] and "补充到已有发票" in rows[1] and "拒收" in rows[2] and "文件为空" in rows[2]
    assert "empty_file" not in rows[2]  # the reason in words; the rule's code stays with the item, for support
    page.click("#fapiao-items tbody tr:nth-child(1) a >> text=25312000000000000981")
    page.wait_for_selector("text=a.ofd")
    shots(page, "record")


def test_a_scanner_gun_types_payloads_and_each_result_appears_without_a_reload(login, live_server, demo_world,
                                                                              shots):
    page = login("finance")
    page.goto(f"{live_server.url}/admin/receiving/collection/scanner/")
    page.evaluate("window.__same_page = true")
    for payload in ("01,32,,25317000002856140513,73.20,2025-11-08,,", "01,32,,25317000002856140513,73.20,20251108,,",
                    "not a qr"):
        page.keyboard.type(payload)  # a scanner gun is a keyboard: it types into the focused field and presses Enter
        page.keyboard.press("Enter")
        page.wait_for_function(
            "t => [...document.querySelectorAll('#fapiao-scans tbody tr td:nth-child(2)')].some(td => td.textContent === t)",
            arg=payload.strip())
    shots(page, "scans")
    assert page.evaluate("window.__same_page") is True  # no reload
    rows = page.locator("#fapiao-scans tbody tr").all_inner_texts()
    assert "拒收" in rows[0] and "重复" in rows[1] and "待复核" in rows[2]
