"""Taking one e-mail apart: headers in the encodings Chinese mail uses, attachments by content and name, links with
the words around them."""

from __future__ import annotations

import base64

from receiving.mailbox import links, messages
from receiving.mailbox.messages import Link


def _raw(headers: str, body: str) -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("ascii")


def test_gbk_subject_and_encoded_attachment_names_are_decoded():
    subject = "=?gb2312?B?" + base64.b64encode("电子发票".encode("gb2312")).decode() + "?="
    name_2047 = "=?utf-8?B?" + base64.b64encode("发票一.pdf".encode()).decode() + "?="
    pdf = base64.b64encode(b"%PDF-1.7 one").decode()
    xml = base64.b64encode(b"<?xml version='1.0'?><EInvoice/>").decode()
    raw = _raw(f"""
From: =?utf-8?B?{base64.b64encode("西湖云".encode()).decode()}?= <fp@xihu.example.com>
Subject: {subject}
Message-ID: <m1@xihu.example.com>
Date: Wed, 18 Jun 2025 10:21:07 +0800
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"
""", f"""--b
Content-Type: text/plain; charset=gbk
Content-Transfer-Encoding: base64

{base64.b64encode("您好，发票见附件。下载地址：https://fp.example.com/d/1".encode("gbk")).decode()}
--b
Content-Type: application/octet-stream; name="{name_2047}"
Content-Disposition: attachment; filename="{name_2047}"
Content-Transfer-Encoding: base64

{pdf}
--b
Content-Type: application/octet-stream
Content-Disposition: attachment; filename*=UTF-8''%E5%8F%91%E7%A5%A8%E4%BA%8C.xml
Content-Transfer-Encoding: base64

{xml}
--b
Content-Type: image/png; name="logo.png"
Content-Disposition: inline; filename="logo.png"
Content-Transfer-Encoding: base64

{base64.b64encode(b"PNG").decode()}
--b--
""")
    parsed = messages.parse(raw)
    assert parsed.subject == "电子发票" and parsed.sender.startswith("西湖云")
    assert parsed.message_id == "<m1@xihu.example.com>" and parsed.sent_at.year == 2025
    assert [a.name for a in parsed.attachments] == ["发票一.pdf", "发票二.xml"]
    assert "发票见附件" in parsed.text
    assert parsed.links == [Link("https://fp.example.com/d/1", "您好，发票见附件。下载地址：")]


def test_html_links_keep_their_text_and_only_likely_ones_are_followed():
    html = ('<p>尊敬的客户</p><a href="https://nnfp.jss.com.cn/abc">点击查看</a>'
            '<a href="https://shop.example.com/">商城首页</a><a href="https://x.example.com/i.pdf">i</a>'
            '<a href="https://x.example.com/unsubscribe">退订</a><a href="mailto:a@b.c">联系</a>')
    parsed = messages.parse(messages.compose(subject="s", sender="a@b.c", to="c@d.e", html=html))
    assert [link.url for link in links.candidates(parsed.links)] == [
        "https://nnfp.jss.com.cn/abc", "https://x.example.com/i.pdf"]
    assert "尊敬的客户" in parsed.text


def test_a_broken_message_still_parses():
    parsed = messages.parse(b"Subject: =?unknown-charset?B?xx?=\r\nContent-Type: multipart/mixed\r\n\r\nno boundary")
    assert parsed.fingerprint and parsed.attachments == []


def test_malformed_addresses_are_dropped_not_fatal():
    html = '<a href="http://[not-an-address/x.pdf">下载发票</a><a href="https://ok.example.com/f.pdf">发票</a>'
    parsed = messages.parse(messages.compose(subject="s", sender="a@b.c", to="c@d.e",
                                             text="发票 http://[::1/oops.pdf", html=html))
    assert [link.url for link in parsed.links] == ["https://ok.example.com/f.pdf"]
    assert links.page_file_links('<a href="http://[bad/x.pdf">PDF</a><script>u="/d?type=pdf"</script>',
                                 "https://p.example.com/") == ["https://p.example.com/d?type=pdf"]
