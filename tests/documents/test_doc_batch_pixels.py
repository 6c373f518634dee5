"""Batch printing lays every invoice out in one document; each of its pages must look exactly like the same invoice
rendered on its own (``render_pdf``, the face as it is printed one by one), pixel for pixel, on both papers, for
faces of every shape: few lines (filler rows), a full face, a red invoice, lines flowing onto more pages, long
names that wrap. Both must also look exactly like the faces rendered before the renderer parsed its markup with the
XML parser (tests/fixtures/documents/faces-a4.pdf and faces-a5.pdf, the batch of ``_faces()`` rendered then)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from xml.etree import ElementTree

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader

from invoicing.documents import fonts
from invoicing.documents.demo import demo_document
from invoicing.documents.model import InvoiceDocument, InvoiceParty
from invoicing.documents.pdf import render_batch_pdf, render_pdf

pytestmark = pytest.mark.skipif(bool(fonts.documents_environment_problems()),
                                reason="PDF rendering needs a CJK font and libharfbuzz-subset")

DPI = 110
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "documents"


def _faces() -> list[InvoiceDocument]:
    long_buyer = demo_document(number="25312000000000000005", lines=2, total_in_words="贰")
    long_buyer = long_buyer.with_changes(
        buyer=InvoiceParty("上海浦江数字科技有限公司张江高科技园区第二分公司（研发中心）暨华东区域运营总部", "91310115MA1K4ABC2X"),
        lines=(dataclasses.replace(long_buyer.lines[0], item_name="*信息技术服务*软件开发服务（含需求分析、系统设计、编码、测试与上线部署）"),
               long_buyer.lines[1]),
        remark="合同编号：HT-2025-0917；" * 6,
    )
    return [
        demo_document(number="25312000000000000001", kind="82", lines=3, total_in_words="壹"),
        demo_document(number="25312000000000000002", total_in_words="壹拾肆万柒仟伍佰贰拾玖圆玖角捌分"),
        demo_document(number="25312000000000000003", red=True, total_in_words="负壹拾肆万柒仟伍佰贰拾玖圆玖角捌分"),
        demo_document(number="25312000000000000004", lines=60, total_in_words="叁"),
        long_buyer,
        demo_document(number="25312000000000000006", lines=1, total_in_words="肆"),
    ]


def _pages(pdf: bytes) -> list[tuple[tuple[int, int], bytes]]:
    doc = pdfium.PdfDocument(pdf)
    try:
        out = []
        for i in range(len(doc)):
            image = doc[i].render(scale=DPI / 72).to_pil()
            out.append((image.size, image.tobytes()))
        return out
    finally:
        doc.close()


@pytest.mark.parametrize("paper", ["A4", "A5"])
def test_each_batch_page_is_the_invoice_rendered_alone_pixel_for_pixel(paper):
    faces = _faces()
    alone = [page for face in faces for page in _pages(render_pdf(face, paper=paper))]
    batch = _pages(render_batch_pdf(faces, paper))
    assert len(batch) == len(alone) > len(faces)  # the 60-line invoice takes more than one page
    differing = [i for i, (a, b) in enumerate(zip(batch, alone, strict=True)) if a != b]
    assert not differing, f"pages {differing} differ from the invoices rendered one by one"


def test_the_batch_is_titled_by_its_first_invoice_and_embeds_the_font_once():
    faces = _faces()[:3]
    reader = PdfReader(io.BytesIO(render_batch_pdf(faces, "A4")))
    assert reader.metadata.title == f"{faces[0].title} {faces[0].number}"
    programs = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            for desc in font.get_object().get("/DescendantFonts", []):
                descriptor = desc.get_object()["/FontDescriptor"].get_object()
                programs.add(descriptor.raw_get("/FontFile2").idnum)
    assert len(programs) == 1


@pytest.mark.parametrize("paper", ["A4", "A5"])
def test_the_faces_are_the_ones_rendered_before_pixel_for_pixel(paper):
    before = _pages((FIXTURES / f"faces-{paper.lower()}.pdf").read_bytes())
    faces = _faces()
    alone = [page for face in faces for page in _pages(render_pdf(face, paper=paper))]
    batch = _pages(render_batch_pdf(faces, paper))
    assert len(before) == len(alone) == len(batch)
    assert not [i for i, (a, b) in enumerate(zip(before, alone, strict=True)) if a != b]
    assert not [i for i, (a, b) in enumerate(zip(before, batch, strict=True)) if a != b]


def test_markup_the_xml_parser_refuses_is_rendered_by_the_html_parser(monkeypatch):
    import weasyprint

    from invoicing.documents.pdf import _html, _parsed, _styles, read_pdf

    parsed_as_html5 = []
    html5_init = weasyprint.HTML.__init__
    monkeypatch.setattr(weasyprint.HTML, "__init__",
                        lambda self, *a, **kw: parsed_as_html5.append(1) or html5_init(self, *a, **kw))
    fetcher = _styles("A4")[2]
    _parsed(_html([demo_document()], "A4"), fetcher)
    assert parsed_as_html5 == []  # the face's own markup: the XML parser

    face = demo_document(number="25312000000000000007", lines=1, total_in_words="伍")
    face = face.with_changes(remark="备注\x0b第二行")  # a control character: not well-formed XML
    html = _html([face], "A4")
    with pytest.raises(ElementTree.ParseError):
        ElementTree.fromstring(html)
    _parsed(html, fetcher)
    assert parsed_as_html5 == [1]
    assert read_pdf(render_pdf(face)).number == "25312000000000000007"
