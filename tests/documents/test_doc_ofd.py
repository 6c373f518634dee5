from __future__ import annotations

import io
import re
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from invoicing.documents.demo import demo_document
from invoicing.documents.errors import MalformedDocument, UnsafeDocument, UnsupportedDocument
from invoicing.documents.ofd import FACE_LINES, read_ofd, write_ofd
from invoicing.documents.xml import write_xml

WORDS = "壹拾肆万柒仟伍佰贰拾玖圆玖角捌分"


def _zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def _rezip(data: bytes, drop=(), edit=None) -> bytes:
    src, out = _zip(data), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in src.namelist():
            if any(d in name for d in drop):
                continue
            body = src.read(name)
            if edit:
                body = edit(name, body)
            z.writestr(name, body)
    return out.getvalue()


def _all_ids(z: zipfile.ZipFile) -> list[int]:
    ids = []
    for name in z.namelist():
        if name.endswith(".xml") and not name.endswith("invoice.xml"):
            root = etree.fromstring(z.read(name))
            ids += [int(el.get("ID")) for el in root.iter() if isinstance(el.tag, str) and el.get("ID")]
    return ids


@pytest.mark.parametrize("lines", [0, 1, 8, 9, 40])
def test_ofd_round_trip_gives_back_the_same_document(lines):
    doc = demo_document(lines=lines, total_in_words="x")
    back = read_ofd(write_ofd(doc))
    assert back == doc.with_changes(source_format="ofd")


def test_red_ofd_round_trip():
    doc = demo_document(red=True, total_in_words="负" + WORDS)
    back = read_ofd(write_ofd(doc))
    assert back == doc.with_changes(source_format="ofd")


def test_attachment_is_exactly_the_xml_writer_output():
    doc = demo_document(total_in_words=WORDS)
    z = _zip(write_ofd(doc))
    assert z.read("Doc_0/Attachs/invoice.xml") == write_xml(doc)
    att = etree.fromstring(z.read("Doc_0/Attachs/Attachments.xml"))
    assert [e.text for e in att.iter("{*}FileLoc")] == ["invoice.xml"]


def test_ids_are_unique_and_max_unit_id_is_the_largest():
    z = _zip(write_ofd(demo_document(lines=40, total_in_words=WORDS)))
    ids = _all_ids(z)
    assert len(ids) == len(set(ids))
    document = etree.fromstring(z.read("Doc_0/Document.xml"))
    assert int(document.findtext("{*}CommonData/{*}MaxUnitID")) == max(ids)


def test_package_structure_matches_the_standard_layout():
    z = _zip(write_ofd(demo_document(total_in_words=WORDS)))
    ofd = etree.fromstring(z.read("OFD.xml"))
    assert ofd.get("DocType") == "OFD"
    root_path = ofd.findtext("{*}DocBody/{*}DocRoot")
    assert root_path in z.namelist()
    info = ofd.find("{*}DocBody/{*}DocInfo")
    assert info.findtext("{*}Creator") == "FapiaoDesk"
    assert info.findtext("{*}DocID") and info.findtext("{*}CreationDate")
    custom = {e.get("Name"): e.text for e in info.iter("{*}CustomData")}
    assert custom["发票号码"] == "25312000000123456789" and custom["价税合计"] == "147529.98"
    document = etree.fromstring(z.read(root_path))
    assert document.findtext("{*}CommonData/{*}PageArea/{*}PhysicalBox") == "0 0 210 140"
    for res in ("PublicRes", "DocumentRes"):
        assert "Doc_0/" + document.findtext(f"{{*}}CommonData/{{*}}{res}") in z.namelist()
    fonts = etree.fromstring(z.read("Doc_0/PublicRes.xml")).findall(".//{*}Font")
    assert fonts and all(f.get("FontName") for f in fonts)
    for page in document.iter("{*}Page"):
        content = etree.fromstring(z.read("Doc_0/" + page.get("BaseLoc")))
        assert content.findtext("{*}Area/{*}PhysicalBox") == "0 0 210 140"
        for obj in content.iter("{*}TextObject", "{*}PathObject", "{*}ImageObject"):
            x, y, w, h = map(float, obj.get("Boundary").split())
            assert 0 <= x <= 210 and 0 <= y <= 140 and w > 0 and h > 0
        assert content.findall(".//{*}PathObject"), "the table frame is drawn"


def test_custom_tags_point_at_the_objects_that_show_the_values():
    doc = demo_document(total_in_words=WORDS)
    z = _zip(write_ofd(doc))
    page = z.read("Doc_0/Pages/Page_0/Content.xml").decode()
    texts = {m.group(1): m.group(2) for m in re.finditer(
        r'<ofd:TextObject ID="(\d+)"[^>]*>(?:<ofd:FillColor[^>]*/>)?<ofd:TextCode[^>]*>([^<]*)<', page)}
    tag = etree.fromstring(z.read("Doc_0/Tags/CustomTag.xml"))

    def shown(name):
        return "".join(texts[r.text] for el in tag.iter(f"{{*}}{name}") for r in el.iter("{*}ObjectRef"))

    assert shown("InvoiceNo") == doc.number
    assert shown("IssueDate") == "2025年10月15日"
    assert shown("BuyerName") == doc.buyer.name and shown("SellerTaxID") == doc.seller.tax_id
    assert shown("TaxInclusiveTotalAmount") == "¥147529.98"
    assert shown("TaxExclusiveTotalAmount") == "¥135137.49" and shown("TaxTotalAmount") == "¥12392.49"


def test_more_than_eight_lines_go_to_a_list_on_the_following_pages():
    doc = demo_document(lines=40, total_in_words=WORDS)
    z = _zip(write_ofd(doc))
    pages = sorted(n for n in z.namelist() if n.endswith("Content.xml"))
    assert len(pages) == 4  # the face + 3 list pages of 18 rows
    face = z.read("Doc_0/Pages/Page_0/Content.xml").decode()
    assert "（详见销货清单）" in face and "软件开发服务" not in face
    listed = "".join(z.read(p).decode() for p in pages[1:])
    assert listed.count("*信息技术服务*软件开发服务") == 5  # rows 1, 9, 17, 25, 33
    assert "共4页 第2页" in listed
    small = _zip(write_ofd(demo_document(lines=FACE_LINES, total_in_words=WORDS)))
    assert sum(n.endswith("Content.xml") for n in small.namelist()) == 1


def test_page_text_alone_gives_the_header_fields():
    doc = demo_document(total_in_words=WORDS)

    def strip(name, body):
        if name == "OFD.xml":
            return re.sub(rb"<ofd:CustomDatas>.*</ofd:CustomDatas>", b"", body)
        if name == "Doc_0/Document.xml":
            return re.sub(rb"<ofd:(Attachments|CustomTags)>.*?</ofd:\1>", b"", body)
        return body

    back = read_ofd(_rezip(write_ofd(doc), drop=("Attachs/", "Tags/"), edit=strip))
    assert (back.number, back.kind, back.issue_date) == (doc.number, "81", doc.issue_date)
    assert back.buyer.name == doc.buyer.name and back.buyer.tax_id == doc.buyer.tax_id
    assert back.seller.name == doc.seller.name and back.seller.tax_id == doc.seller.tax_id
    assert (back.total_amount, back.total_tax, back.total_with_tax) == (
        doc.total_amount, doc.total_tax, doc.total_with_tax)
    assert back.drawer == doc.drawer and back.total_in_words == WORDS and back.remark == doc.remark


# ------------------------------------------------------------------------------------------------- safety

def _zip_with(entries: dict[str, bytes], compress=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compress) as z:
        for name, body in entries.items():
            z.writestr(name, body)
    return out.getvalue()


def test_zip_bomb_is_refused():
    with pytest.raises(UnsafeDocument):
        read_ofd(_zip_with({"OFD.xml": b"<OFD/>", "Doc_0/Res/bomb.bin": b"\0" * (60 * 1024 * 1024)}))


def test_highly_compressed_entry_is_refused():
    with pytest.raises(UnsafeDocument):
        read_ofd(_zip_with({"OFD.xml": b"<OFD/>", "Doc_0/Res/pad.bin": b"\0" * (5 * 1024 * 1024)}))


def test_too_many_entries_are_refused():
    with pytest.raises(UnsafeDocument):
        read_ofd(_zip_with({f"Doc_0/Res/{i}.txt": b"" for i in range(2100)}, compress=zipfile.ZIP_STORED))


@pytest.mark.parametrize("name", ["../evil.xml", "Doc_0/../../evil.xml", "/etc/evil.xml", "C:/evil.xml"])
def test_traversal_and_absolute_paths_are_refused(name):
    with pytest.raises(UnsafeDocument):
        read_ofd(_zip_with({"OFD.xml": b"<OFD/>", name: b"x"}))


def test_doc_root_escaping_the_package_is_refused():
    ofd = b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody><ofd:DocRoot>../../etc/passwd' \
          b"</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    with pytest.raises(UnsafeDocument):
        read_ofd(_zip_with({"OFD.xml": ofd}))


def test_entity_expansion_inside_the_package_is_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><r>&b;</r>'
    with pytest.raises(UnsafeDocument):
        read_ofd(_zip_with({"OFD.xml": bomb}))


@pytest.mark.parametrize(("data", "error"), [
    (b"not a zip at all", MalformedDocument),
    (_zip_with({"readme.txt": b"x"}), MalformedDocument),
    (_zip_with({"OFD.xml": b"<html/>"}), UnsupportedDocument),
    (_zip_with({"OFD.xml": b'<OFD><DocBody><DocRoot>Doc_0/Document.xml</DocRoot></DocBody></OFD>'}),
     MalformedDocument),
])
def test_broken_packages_raise_typed_errors(data, error):
    with pytest.raises(error):
        read_ofd(data)


def test_a_package_without_invoice_data_is_unsupported():
    ofd = b'<OFD><DocBody><DocRoot>Doc_0/Document.xml</DocRoot></DocBody></OFD>'
    document = b'<Document><Pages><Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></Pages></Document>'
    page = b'<Page><Content><Layer ID="2"><TextObject ID="3" Boundary="0 0 50 5" Size="3">' \
           b'<TextCode X="0" Y="3">hello</TextCode></TextObject></Layer></Content></Page>'
    with pytest.raises(UnsupportedDocument):
        read_ofd(_zip_with({"OFD.xml": ofd, "Doc_0/Document.xml": document, "Doc_0/Pages/Page_0/Content.xml": page}))


# ------------------------------------------------------------------------------------- hypothesis round trip

_names = st.text(alphabet="有限公司科技服务杭州（）&<>\"'*/ -_.abcXYZ019", min_size=1, max_size=30).map(str.strip).filter(
    lambda s: bool(s) and not s.startswith("*"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.integers(min_value=0, max_value=45), red=st.booleans(), kind=st.sampled_from(["81", "82"]),
       buyer=_names, seller=_names, remark=st.one_of(st.just(""), _names), drawer=_names)
def test_ofd_round_trip_property(lines, red, kind, buyer, seller, remark, drawer):
    doc = demo_document(lines=lines, red=red, kind=kind, total_in_words="词")
    doc = doc.with_changes(buyer=doc.buyer.__class__(buyer, "91310115MA1K4ABC2X"),
                           seller=doc.seller.__class__(seller, "91330106MA2GL8XY7Q"), remark=remark, drawer=drawer)
    data = write_ofd(doc)
    assert read_ofd(data) == doc.with_changes(source_format="ofd")
    ids = _all_ids(_zip(data))
    assert len(ids) == len(set(ids))
