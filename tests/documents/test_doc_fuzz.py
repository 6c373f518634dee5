"""Readers only ever raise DocumentError subclasses, whatever they are fed."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from invoicing.documents.demo import demo_document
from invoicing.documents.errors import DocumentError
from invoicing.documents.ofd import read_ofd, write_ofd
from invoicing.documents.xml import read_xml, write_xml

_XML = write_xml(demo_document(lines=2, total_in_words="x"))
_OFD = write_ofd(demo_document(lines=2, total_in_words="x"))
_LEAVES = [el for el in etree.fromstring(_XML).iter() if len(el) == 0]

_nasty = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["1E+999999", "NaN", "-Infinity", "²", "１２３", "٣.٥", "9" * 60, "2023-02-30", "25:61:99",
                     "0.06%%", "%", "-", ".", "¥", "***", "2023年13月40日", "\u0000"]),
)


def _only_typed_errors(fn, data):
    try:
        fn(data)
    except DocumentError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=len(_LEAVES) - 1), value=_nasty)
def test_read_xml_survives_any_element_value(index, value):
    root = etree.fromstring(_XML)
    leaf = [el for el in root.iter() if len(el) == 0][index]
    try:
        leaf.text = value
    except ValueError:  # lxml refuses control characters: nothing to test
        return
    _only_typed_errors(read_xml, etree.tostring(root))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_readers_survive_random_bytes(data):
    _only_typed_errors(read_xml, data)
    _only_typed_errors(read_ofd, data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(min_value=0, max_value=len(_OFD) - 1), byte=st.integers(min_value=0, max_value=255))
def test_read_ofd_survives_a_corrupted_byte(position, byte):
    data = bytearray(_OFD)
    data[position] = byte
    _only_typed_errors(read_ofd, bytes(data))


@pytest.mark.parametrize("member", ["OFD.xml", "Doc_0/Document.xml", "Doc_0/Attachs/invoice.xml",
                                    "Doc_0/Tags/CustomTag.xml", "Doc_0/Pages/Page_0/Content.xml"])
def test_read_ofd_survives_a_garbled_part(member):
    src, out = zipfile.ZipFile(io.BytesIO(_OFD)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in src.namelist():
            z.writestr(name, b"<not-xml" if name == member else src.read(name))
    _only_typed_errors(read_ofd, out.getvalue())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_read_pdf_survives_random_bytes(data):
    pytest.importorskip("pdfplumber")
    from invoicing.documents.pdf import read_pdf

    _only_typed_errors(read_pdf, b"%PDF-1.4\n" + data)
