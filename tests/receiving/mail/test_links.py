"""Links in e-mail bodies: followed to invoice files within limits, refused where they lead inside, and what cannot
be taken queued with the reason and the remedy."""

from __future__ import annotations

import io
import zipfile

import pytest
import requests

from receiving.mailbox import fetching
from receiving.mailbox.models import IssueState, MailIssue, MailMessage, Remedy
from receiving.models import Carrier, ReceivedInvoice
from tests.receiving.conftest import as_ofd, as_pdf, as_xml, small_document
from tests.receiving.mail.conftest import mail, recorded_page

pytestmark = pytest.mark.django_db


def _run(mailbox, dovecot, imap_user, *raws: bytes):
    dovecot.append(imap_user, *raws)
    return fetching.mailbox_fetch(mailbox.pk)


def _issue() -> MailIssue:
    return MailIssue.objects.select_related("message").get()


def test_a_link_to_an_invoice_file_is_followed(mailbox, dovecot, imap_user, web):
    doc = small_document(number="25312000000000016401")
    url = web.url(web.file("/d/abc", as_pdf(doc), "application/pdf", filename="发票.pdf"))
    result = _run(mailbox, dovecot, imap_user, mail(html=f'<p>您的发票已开具，<a href="{url}">点击下载</a></p>'))

    assert (result.files, result.issues) == (1, 0)
    carrier = Carrier.objects.get()
    assert carrier.invoice.number == doc.number and carrier.original_name == "发票.pdf"


def test_an_html_only_mail_linking_a_private_address_is_refused_by_the_guard(mailbox, dovecot, imap_user, web,
                                                                             settings):
    settings.RECEIVING_LINK_ALLOW_PRIVATE_HOSTS = False
    web.file("/fp.pdf", as_pdf(small_document(number="25312000000000016402")), "application/pdf")
    html = (f'<a href="http://127.0.0.1:{web.port}/fp.pdf">下载发票</a> '
            '<a href="http://169.254.169.254/latest/meta-data/invoice.pdf">发票PDF</a>'
            '<a href="http://erp.internal/fapiao/download">下载</a>')

    _run(mailbox, dovecot, imap_user, mail(html=html))

    assert web.hits == []  # not one request left the guard
    issues = MailIssue.objects.order_by("url")
    assert [i.rule for i in issues] == ["internal_address"] * 3
    assert all(i.remedy == Remedy.BY_HAND and "内网" in i.reason for i in issues)
    assert ReceivedInvoice.objects.count() == 0


def test_a_public_name_that_resolves_inside_is_refused_too(mailbox, dovecot, imap_user, web, settings):
    settings.RECEIVING_LINK_ALLOW_PRIVATE_HOSTS = False  # web resolves every name to 127.0.0.1
    _run(mailbox, dovecot, imap_user, mail(text=f"下载发票：{web.url('/fp.pdf', host='rebind.example.com')}"))
    assert _issue().rule == "internal_address" and web.hits == []


@pytest.mark.parametrize(("setup", "rule", "remedy"), [
    (lambda web: web.status("/gone", 404), "link_expired", Remedy.ASK_SENDER),
    (lambda web: web.status("/gone", 410), "link_expired", Remedy.ASK_SENDER),
    (lambda web: web.status("/gone", 503), "link_unavailable", Remedy.RETRY),
    (lambda web: web.status("/gone", 403), "link_forbidden", Remedy.BY_HAND),
    (lambda web: (web.redirect("/gone", "/loop"), web.redirect("/loop", "/gone")), "redirect_loop", Remedy.BY_HAND),
    (lambda web: web.endless("/gone", declare=300 * 1024 * 1024), "link_too_large", Remedy.BY_HAND),
    (lambda web: web.endless("/gone"), "link_too_large", Remedy.BY_HAND),
    (lambda web: web.page("/gone", recorded_page("unknown_portal.html", web.port)), "unsupported_page",
     Remedy.BY_HAND),
    (lambda web: web.slow("/gone", 3), "timeout", Remedy.RETRY),
])
def test_a_link_that_gives_no_file_is_queued_with_its_reason_and_remedy(mailbox, dovecot, imap_user, web, settings,
                                                                        setup, rule, remedy):
    settings.RECEIVING_LINK_TIMEOUT = 1
    setup(web)
    url = web.url("/gone")
    result = _run(mailbox, dovecot, imap_user, mail("您的电子发票", html=f'<a href="{url}">下载电子发票</a>'))

    assert result.status == "done"
    issue = _issue()
    assert (issue.rule, issue.remedy, issue.url, issue.state) == (rule, remedy, url, IssueState.OPEN)
    assert issue.message.subject == "您的电子发票" and issue.message.links[0]["url"] == url
    assert MailMessage.objects.get().state == "done"


def test_a_redirect_chain_is_followed(mailbox, dovecot, imap_user, web):
    doc = small_document(number="25312000000000016403")
    web.redirect("/s/x1", web.url("/files/x1.xml", host="cdn.example.com"))
    web.file("/files/x1.xml", as_xml(doc), "application/xml")
    _run(mailbox, dovecot, imap_user, mail(text=f"发票下载地址 {web.url('/s/x1', host='u.example.com')}"))
    assert ReceivedInvoice.objects.get().number == doc.number



def test_nuonuo_short_link_page_gives_its_files_through_the_invoice_detail(mailbox, dovecot, imap_user, web):
    doc = small_document(number="25312000000000016301")
    page = "/scan-invoice/invoiceShow?paramList=Kh4Nj8a2&shortLinkSource=1"
    web.redirect("/az2GzNnOqG", page)
    web.page(page, recorded_page("nuonuo_scan_invoice.html", web.port))
    web.file("POST /scan2/getIvcDetailShow.do", recorded_page("nuonuo_ivc_detail.json", web.port).encode(),
             "application/json")
    web.file("/group1/M00/A6/4C/wKgHPll_IU-AVELfAACNq5bmzFM769.pdf", as_pdf(doc), "application/pdf")
    web.file("/group1/M00/A6/4C/wKgHPll_IU-AVELfAACNq5bmzFM769.ofd", as_ofd(doc), "application/ofd")
    short = web.url("/az2GzNnOqG", host="nnfp.jss.com.cn")
    body = f"尊敬的客户：您好！杭州西湖云计算服务有限公司为您开具了电子发票，请点击 {short} 查看。【诺诺网】"

    result = _run(mailbox, dovecot, imap_user, mail("您收到一张电子发票", text=body))

    assert (result.files, result.issues) == (2, 0)
    record = ReceivedInvoice.objects.get()
    assert record.number == doc.number and record.carriers.count() == 2  # PDF and OFD: one record
    assert not any(h.endswith(".jpg") for h in web.hits)  # the preview image is not an invoice file


def test_an_expired_nuonuo_link_is_queued_for_a_person(mailbox, dovecot, imap_user, web):
    page = "/scan-invoice/invoiceShow?paramList=OLD&shortLinkSource=1"
    web.page(page, recorded_page("nuonuo_scan_invoice.html", web.port))
    web.file("POST /scan2/getIvcDetailShow.do", recorded_page("nuonuo_ivc_expired.json", web.port).encode(),
             "application/json")
    _run(mailbox, dovecot, imap_user, mail(text=f"请点击 {web.url(page, host='nnfp.jss.com.cn')} 下载发票"))
    issue = _issue()
    assert issue.rule == "provider_page_no_file" and "诺诺" in issue.reason and issue.remedy == Remedy.BY_HAND


def test_baiwang_preview_page_download_buttons_are_followed(mailbox, dovecot, imap_user, web):
    doc = small_document(number="25312000000000016302")
    page = "/smkp-vue/previewInvoice?code=bw1"
    web.page(page, recorded_page("baiwang_preview.html", web.port))
    base = "/bwfp/download?fpdm=&fphm=25312000000000016302&fileType={}&sign=7f3a91c2"
    web.file(base.format("PDF"), as_pdf(doc), "application/pdf")
    web.file(base.format("OFD"), as_ofd(doc), "application/octet-stream")
    web.file(base.format("XML"), as_xml(doc), "application/xml")

    result = _run(mailbox, dovecot, imap_user, mail(html=f'<a href="{web.url(page, host="pis.baiwang.com")}">'
                                                       '查看发票</a><a href="https://www.baiwang.com/">百望云</a>'))

    assert result.files == 3
    assert ReceivedInvoice.objects.get().carriers.count() == 3


def test_a_travel_platform_page_gives_the_file_in_its_script(mailbox, dovecot, imap_user, web):
    doc = small_document(number="25312000000000016303")
    page = "/webapp/invoice/detail?orderId=1288437712"
    web.page(page, recorded_page("ctrip_invoice.html", web.port))
    web.file("/file/einvoice/9f2c1e7a.pdf?token=4b1d", as_pdf(doc), "application/pdf")

    _run(mailbox, dovecot, imap_user, mail(html=f'<a href="{web.url(page, host="m.ctrip.com")}">查看电子发票</a>'))

    assert ReceivedInvoice.objects.get().number == doc.number


def test_unrelated_links_are_not_followed(mailbox, dovecot, imap_user, web):
    html = (f'<a href="{web.url("/unsubscribe")}">退订</a><img src="{web.url("/logo.png")}">'
            f'<a href="{web.url("/about")}">关于我们</a>')
    _run(mailbox, dovecot, imap_user, mail(html=html))
    assert web.hits == []
    assert _issue().rule == "no_invoice_link"


def test_a_zip_behind_a_link_is_expanded_like_an_attachment(mailbox, dovecot, imap_user, web):
    doc = small_document(number="25312000000000016404")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("发票.xml", as_xml(doc))
    url = web.url(web.file("/bundle", buffer.getvalue(), "application/zip"))
    result = _run(mailbox, dovecot, imap_user, mail(text=f"发票打包下载：{url}"))
    assert result.files == 1 and ReceivedInvoice.objects.get().number == doc.number


@pytest.mark.parametrize(("fault", "words"), [
    (requests.ConnectionError, "对方服务器无法连接或断开了连接"),
    (requests.exceptions.SSLError, "TLS 握手失败"),
    (requests.exceptions.InvalidHeader, "网络异常"),
])
def test_a_network_fault_reads_in_words_and_the_log_keeps_no_link(monkeypatch, caplog, fault, words):
    from receiving.mailbox import links

    url = "https://fp.example.com/d?token=CUSTOMER-SECRET"

    class Broken:
        def get(self, *args, **kwargs):
            raise fault(f"HTTPSConnectionPool(host='fp.example.com', port=443): Max retries exceeded with url: {url}")

    monkeypatch.setattr(links, "_checked", lambda url: None)  # the address guard (DNS) is not what is tested here
    caplog.set_level("INFO", logger="receiving.mailbox.links")
    with pytest.raises(links.LinkProblemError) as info:
        links.download(url, session=Broken())
    assert info.value.message == f"链接无法连接（{words}），稍后重试"
    assert info.value.rule == "unreachable" and info.value.remedy == Remedy.RETRY
    assert fault.__name__ not in info.value.message and "Error" not in info.value.message
    assert fault.__name__ in caplog.text and "CUSTOMER-SECRET" not in caplog.text and "fp.example.com" not in caplog.text
