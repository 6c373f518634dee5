from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pdfplumber
import pytest
from PIL import Image

from invoicing.documents import fonts
from invoicing.documents.demo import demo_document
from invoicing.documents.errors import DocumentEnvironmentError, MalformedDocument, UnsafeDocument
from invoicing.documents.pdf import _fetcher, read_pdf, render_batch_pdf, render_pdf

pytestmark = pytest.mark.skipif(bool(fonts.documents_environment_problems()),
                                reason="PDF rendering needs a CJK font and libharfbuzz-subset")

WORDS = "壹拾肆万柒仟伍佰贰拾玖圆玖角捌分"


@pytest.fixture(scope="module")
def face():
    return demo_document(total_in_words=WORDS)


@pytest.fixture(scope="module")
def a5_pdf(face) -> bytes:
    return render_pdf(face, paper="A5")


def _text(pdf: bytes, page: int = 0) -> str:
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return "".join(doc.pages[page].extract_text().split())


def test_every_field_is_in_the_text_layer(face, a5_pdf):
    text = _text(a5_pdf)
    expected = [
        "电子发票（增值税专用发票）", f"发票号码：{face.number}", "开票日期：2025年10月15日",
        face.buyer.name, face.buyer.tax_id, face.seller.name, face.seller.tax_id,
        "项目名称", "规格型号", "单位", "数量", "单价", "金额", "税率/征收率", "税额",
        "¥135137.49", "¥12392.49", "价税合计（大写）", WORDS, "（小写）¥147529.98", "备", "注",
        "合同编号：HT-2025-0917", f"开票人：{face.drawer}",
    ]
    for line in face.lines:
        expected += [line.item_name, line.spec.replace(" ", ""), f"{line.amount:f}", f"{line.tax:f}", line.rate_display]
    missing = [e for e in expected if e not in text]
    assert not missing


def test_pdf_embeds_the_cjk_font(a5_pdf):
    from pypdf import PdfReader

    page = PdfReader(io.BytesIO(a5_pdf)).pages[0]
    embedded = []
    for font in page["/Resources"]["/Font"].values():
        font = font.get_object()
        for desc in [font, *(d.get_object() for d in font.get("/DescendantFonts", []))]:
            descriptor = desc.get("/FontDescriptor")
            if descriptor is not None:
                descriptor = descriptor.get_object()
                embedded += [k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in descriptor]
    assert embedded, "no embedded font program"


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils")
def test_rendered_page_is_not_blank_where_the_fields_are(a5_pdf, tmp_path: Path):
    src = tmp_path / "face.pdf"
    src.write_bytes(a5_pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile", str(src),
                    str(tmp_path / "face")], check=True)
    image = Image.open(tmp_path / "face.png").convert("L")
    px_per_mm = 50 / 25.4
    # Boxes in mm on the A5 landscape page (margins 5 mm left, 4 mm top): x0, y0, x1, y1.
    boxes = {
        "qr": (7, 4, 24, 22),
        "title": (60, 7, 150, 14),
        "number and date": (150, 7, 205, 20),
        "buyer": (15, 32, 100, 42),
        "seller": (115, 32, 200, 42),
        "lines": (8, 55, 200, 92),
        "合计": (130, 95, 200, 99),
        "价税合计": (8, 100, 200, 106),
        "remark": (15, 108, 150, 113),
        "drawer": (5, 126, 40, 131),
    }

    def dark(box):
        crop = image.crop(tuple(round(v * px_per_mm) for v in box))
        return sum(crop.histogram()[:200]), crop.width * crop.height

    for name, box in boxes.items():
        count, area = dark(box)
        assert count > 0.02 * area, f"{name} looks blank ({count} dark pixels)"
    # and the page below the face is blank
    assert dark((0, 134, 210, 148))[0] == 0


def test_our_pdf_reads_back(face, a5_pdf):
    back = read_pdf(a5_pdf)
    assert (back.number, back.kind, back.issue_date) == (face.number, "81", face.issue_date)
    assert back.buyer.name == face.buyer.name and back.buyer.tax_id == face.buyer.tax_id
    assert back.seller.name == face.seller.name and back.seller.tax_id == face.seller.tax_id
    assert (back.total_amount, back.total_tax, back.total_with_tax) == (
        face.total_amount, face.total_tax, face.total_with_tax)
    assert back.drawer == face.drawer and back.total_in_words == WORDS
    assert back.source_format == "pdf"


def test_a4_and_ordinary_invoice():
    doc = demo_document(kind="82", lines=3, total_in_words="x")
    pdf = render_pdf(doc, paper="A4")
    with pdfplumber.open(io.BytesIO(pdf)) as p:
        assert len(p.pages) == 1
        assert round(p.pages[0].width) == 595 and round(p.pages[0].height) == 842
    assert "电子发票（普通发票）" in _text(pdf)
    assert read_pdf(pdf).kind == "82"


def test_red_invoice_is_marked():
    doc = demo_document(red=True, total_in_words="负" + WORDS)
    text = _text(render_pdf(doc, paper="A5"))
    assert "红字" in text
    assert "被红冲蓝字数电发票号码：25312000000123450001" in text
    assert "¥-147529.98" in text and "-45000.00" in text


def test_many_lines_flow_onto_more_pages():
    pdf = render_pdf(demo_document(lines=40, total_in_words="x"), paper="A5")
    with pdfplumber.open(io.BytesIO(pdf)) as p:
        assert len(p.pages) > 1
        text = "".join("".join(page.extract_text().split()) for page in p.pages)
    assert text.count("*信息技术服务*软件开发服务") == 5


def test_batch_puts_each_invoice_on_its_own_page():
    docs = [demo_document(number=f"2531200000012345678{i}", lines=2, total_in_words="x") for i in range(3)]
    pdf = render_batch_pdf(docs, "A5")
    with pdfplumber.open(io.BytesIO(pdf)) as p:
        assert len(p.pages) == 3
        for i, page in enumerate(p.pages):
            assert f"2531200000012345678{i}" in "".join(page.extract_text().split())


def test_bad_paper_and_empty_batch_are_refused(face):
    with pytest.raises(ValueError):
        render_pdf(face, paper="Letter")
    with pytest.raises(ValueError):
        render_batch_pdf([], "A4")


def test_the_url_fetcher_only_serves_local_fonts_and_data(tmp_path):
    font = fonts.find_cjk_font()
    fetch = _fetcher((font.parent.resolve(),))
    assert fetch("data:text/plain;base64,aGk=").read() == b"hi"
    response = fetch(font.as_uri())
    assert response.read(4)
    response.close()
    for url in ("http://example.com/x.png", "https://example.com/a.css", "ftp://example.com/f",
                "file:///etc/passwd", (tmp_path / "x").as_uri()):
        with pytest.raises(ValueError):
            fetch(url)


def test_missing_font_gives_an_install_hint(monkeypatch):
    fonts.find_cjk_font.cache_clear()
    monkeypatch.setattr(fonts, "_fc", lambda *args: "")
    try:
        with pytest.raises(DocumentEnvironmentError, match="apt-get install fonts-wqy-zenhei"):
            fonts.find_cjk_font()
        assert any("fonts-wqy-zenhei" in p for p in fonts.documents_environment_problems())
    finally:
        fonts.find_cjk_font.cache_clear()


def test_missing_harfbuzz_subset_is_reported(monkeypatch):
    monkeypatch.setattr(fonts.ctypes.util, "find_library", lambda name: None)
    assert any("libharfbuzz-subset" in p for p in fonts.documents_environment_problems())


# ----------------------------------------------------------------------------------------- shared sample


def test_shared_pdf_sample_is_read(fixtures_dir):
    doc = read_pdf((fixtures_dir / "pdf" / "easyofd-test.pdf").read_bytes())
    assert doc.number == "23512000000005197325"
    assert doc.issue_date == date(2023, 1, 30)
    assert doc.kind == "81"
    assert (doc.total_amount, doc.total_tax, doc.total_with_tax) == (
        Decimal("2129.34"), Decimal("21.29"), Decimal("2150.63"))
    assert (doc.buyer.name, doc.buyer.tax_id) == ("中国移动通信集团四川有限公司成都分公司", "91510000765055994P")
    assert (doc.seller.name, doc.seller.tax_id) == ("郫都区星讯通讯设备经营部", "92510124MA6B1BBY1G")
    assert doc.drawer == "石富阳"


# ------------------------------------------------------------------------------------------------ limits


def test_oversize_pdf_is_refused():
    with pytest.raises(UnsafeDocument):
        read_pdf(b"%PDF-1.7\n" + b"0" * (20 * 1024 * 1024 + 1))


def test_too_many_pages_are_refused():
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(51):
        writer.add_blank_page(width=100, height=100)
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(UnsafeDocument):
        read_pdf(buf.getvalue())


@pytest.mark.parametrize("data", [b"", b"hello", b"%PDF-1.7\nthis is not a pdf at all", b"PK\x03\x04zip"])
def test_broken_pdfs_raise_typed_errors(data):
    with pytest.raises(MalformedDocument):
        read_pdf(data)


def test_line_table_is_read_back_from_our_pdf_across_pages():
    doc = demo_document(lines=30, total_in_words="x")
    back = read_pdf(render_pdf(doc, paper="A5"))
    assert back.total_amount == doc.total_amount
    assert [ln.__class__(**{**ln.__dict__, "tax_code": ""}) for ln in doc.lines] == list(back.lines)


def test_shared_pdf_sample_line_is_read(fixtures_dir):
    (line,) = read_pdf((fixtures_dir / "pdf" / "easyofd-test.pdf").read_bytes()).lines
    assert (line.item_name, line.spec, line.unit, line.quantity) == ("*现代服务*移动代理服务", "无", "项", Decimal("1"))
    assert (line.unit_price, line.amount, line.tax_rate, line.tax) == (
        Decimal("2129.33663366337"), Decimal("2129.34"), Decimal("0.01"), Decimal("21.29"))
