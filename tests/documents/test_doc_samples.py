"""Every shared OFD sample is read with the right header fields.

Expected values were read by hand from each file (OFD.xml CustomDatas, Tags/CustomTag*.xml + Content.xml text
objects, Attachs/*.xml), not produced by running the reader. Legacy invoices carry ``number = code + number``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from invoicing.documents.ofd import read_ofd

D = Decimal

# file, number, legacy code, legacy number, kind, date, seller (name, id), buyer (name, id), amount, tax, total
SAMPLES = [
    ("easyofd-dzfp_25442000000127444519.ofd", "25442000000127444519", "", "", "81", date(2025, 3, 7),
     ("中移建设有限公司广东分公司", "914400007556190127"),
     ("中国移动通信集团广东有限公司阳江分公司", "91441702707782974C"), D("20000.00"), D("1800.00"), D("21800.00")),
    ("easyofd-ofd2.ofd", "25924000000001260164", "", "", "81", date(2025, 4, 1),
     ("青岛嘉仕汇酒店管理有限公司", "91370203MA3N3AR685"), ("威高集团有限公司", "913710007062495888"),
     D("357.55"), D("21.45"), D("379.00")),
    ("easyofd-test.ofd", "23512000000058396237", "", "", "82", date(2023, 7, 7),
     ("武侯区极客火锅店", "92510107MA634W4K90"), ("中国移动通信集团四川有限公司成都分公司", "91510000765055994P"),
     D("1455.45"), D("14.55"), D("1470.00")),
    ("easyofd-testxml.ofd", "04500210011240541075", "045002100112", "40541075", "14", date(2024, 3, 11),
     ("广西桂鹿高速公路有限公司", "91450000MA5PT09H3P"), ("广西建工集团第四建筑工程有限责任公司", "91450300198854457U"),
     D("27.97"), D("2.52"), D("30.49")),
    ("easyofd-增值税电子专票5.ofd", "05200210011300008006", "052002100113", "00008006", "08", date(2022, 5, 5),
     ("独山县城南网格刘梦阳通讯店", "92522726MA7GNHJ07M"), ("中国移动通信集团贵州有限公司黔南分公司", "91522701709696623X"),
     D("24519.05"), D("735.57"), D("25254.62")),
    ("fapiao-print-sample.ofd", "24322000000489101796", "", "", "81", date(2024, 12, 5),
     ("无锡爱尔拓燃气技术设备有限公司", "91320211739560225X"), ("无锡天鹏菜篮子工程有限公司", "91320200796148368W"),
     D("17699.12"), D("2300.88"), D("20000.00")),
    ("ofdrw-1.ofd", "03300200021183089647", "033002000211", "83089647", "10", date(2020, 7, 23),
     ("兰溪市悦济舫餐厅", "92330781MA2EDMFU50"), ("江苏京利华新材料有限公司", "91320115MA202UKD7X"),
     D("510.68"), D("15.32"), D("526.00")),
    ("ofdrw-20240531141733.ofd", "24112000000048542163", "", "", "81", date(2024, 5, 28),
     ("北京互联三六五科技有限公司", "91110108690017781B"), ("海南麒麟云服科技有限公司", "91460300MAA92DJN95"),
     D("4197.17"), D("251.83"), D("4449.00")),
    ("ofdrw-999.ofd", "05000170011112235358", "050001700111", "12235358", "10", date(2020, 8, 5),
     ("财天下科技有限公司", "91500102563638729E"), ("个人", ""), D("10000.00"), D("600.00"), D("10600.00")),
    ("ofdrw-SignScaleError.ofd", "03300220021199934328", "033002200211", "99934328", "10", date(2022, 9, 1),
     ("杭州融运科技有限公司", "91330106MA7GAL1299"), ("江苏中电创新环境科技有限公司", "913202133140424571"),
     D("9.91"), D("1.29"), D("11.20")),
    ("ofdrw-draw_param_ref.ofd", "01100268002671500013", "011002680026", "71500013", "10", date(2020, 2, 20),
     ("ukey测试", "91110101202001201"), ("百望股份有限公司", "91110108339805094M"),
     D("9709.00"), D("291.00"), D("10000.00")),
    ("ofdrw-fptpl.ofd", "05000170011112235358", "050001700111", "12235358", "10", date(2020, 8, 5),
     ("财天下科技有限公司", "91500102563638729E"), ("个人", ""), D("10000.00"), D("600.00"), D("10600.00")),
    ("ofdrw-keyword2.ofd", "03200160051131471858", "032001600511", "31471858", "10", date(2020, 10, 4),
     ("新北区河海华昇印章雕刻社", "32040419760706081301"), ("上海后衍品牌管理有限公司钟楼分公司", "91320404MA22FHG7XX"),
     D("198.04"), D("1.96"), D("200.00")),
    ("ofdrw-no_page_container.ofd", "03100190051104875996", "031001900511", "04875996", "10", date(2020, 4, 20),
     ("上海阿金大白餐饮管理有限公司", "91310110MA1G8YNR76"), ("上海浪潮云计算服务有限公司", "91310108342080987A"),
     D("57.00"), D("0.00"), D("57.00")),
    ("ofdrw-v4signed.ofd", "05000170011199999951", "050001700111", "99999951", "10", date(2020, 10, 10),
     ("杭州融易算企业管理咨询有限公司", "91500106MA2CE71F65"), ("科游迈利有限公司", "9150010807MGZHI002"),
     D("300.00"), D("18.00"), D("318.00")),
    ("ofdrw-发票示例.ofd", "05000170011199999951", "050001700111", "99999951", "10", date(2020, 10, 10),
     ("杭州融易算企业管理咨询有限公司", "91500106MA2CE71F65"), ("科游迈利有限公司", "9150010807MGZHI002"),
     D("300.00"), D("18.00"), D("318.00")),
]


@pytest.mark.parametrize(
    ("name", "number", "code", "legacy_number", "kind", "issued", "seller", "buyer", "amount", "tax", "total"),
    SAMPLES, ids=[s[0] for s in SAMPLES],
)
def test_every_shared_ofd_sample_is_read(fixtures_dir, name, number, code, legacy_number, kind, issued, seller,
                                         buyer, amount, tax, total):
    doc = read_ofd((fixtures_dir / "ofd" / name).read_bytes())
    assert doc.number == number
    assert (doc.legacy_code, doc.legacy_number) == (code, legacy_number)
    assert doc.kind == kind
    assert doc.issue_date == issued
    assert (doc.seller.name, doc.seller.tax_id) == seller
    assert (doc.buyer.name, doc.buyer.tax_id) == buyer
    assert (doc.total_amount, doc.total_tax, doc.total_with_tax) == (amount, tax, total)
    assert doc.source_format == "ofd"


def test_all_fixture_files_are_covered(fixtures_dir):
    assert {p.name for p in (fixtures_dir / "ofd").glob("*.ofd")} == {s[0] for s in SAMPLES}


def test_exempt_line_keeps_its_printed_rate_and_stars(fixtures_dir):
    doc = read_ofd((fixtures_dir / "ofd" / "ofdrw-no_page_container.ofd").read_bytes())
    (line,) = doc.lines
    assert line.tax_rate is None and line.tax_rate_text == "免税" and line.tax is None
    assert line.amount == D("57.00") and line.item_name == "*餐饮服务*餐饮服务"


@pytest.mark.parametrize(("name", "lines"), [("ofdrw-999.ofd", 100), ("ofdrw-draw_param_ref.ofd", 100),
                                             ("ofdrw-发票示例.ofd", 3), ("easyofd-增值税电子专票5.ofd", 1)])
def test_embedded_xml_lines_are_read(fixtures_dir, name, lines):
    doc = read_ofd((fixtures_dir / "ofd" / name).read_bytes())
    assert len(doc.lines) == lines
    assert sum(ln.amount for ln in doc.lines) == doc.total_amount


def test_remark_and_drawer_come_from_tags_or_text(fixtures_dir):
    doc = read_ofd((fixtures_dir / "ofd" / "easyofd-ofd2.ofd").read_bytes())
    assert doc.drawer == "王琦"
    assert "威海农行高区支行" in doc.remark  # the Note tag points at one remark line only
    doc = read_ofd((fixtures_dir / "ofd" / "easyofd-test.ofd").read_bytes())
    assert doc.drawer == "李海伦" and doc.total_in_words == "壹仟肆佰柒拾圆整"


# Lines read off the page text (no embedded XML): item, amount, rate, tax as printed in each file.
PAGE_LINES = [
    ("easyofd-test.ofd", "*餐饮服务*餐饮费", D("1455.45"), D("0.01"), D("14.55")),
    ("easyofd-ofd2.ofd", "*住宿服务*住宿费", D("357.55"), D("0.06"), D("21.45")),
    ("ofdrw-20240531141733.ofd", "*信息技术服务*技术服务费", D("4197.17"), D("0.06"), D("251.83")),
    ("fapiao-print-sample.ofd", "*劳务*维护保养-调压站", D("17699.12"), D("0.13"), D("2300.88")),
    ("easyofd-dzfp_25442000000127444519.ofd",
     "*建筑服务*【KX240122008】客户响应中心-2024年管线优化服务支撑施工项目", D("20000.00"), D("0.09"), D("1800.00")),
    ("easyofd-testxml.ofd", "*经营租赁*通行费", D("27.97"), D("0.09"), D("2.52")),
]


@pytest.mark.parametrize(("name", "item", "amount", "rate", "tax"), PAGE_LINES, ids=[p[0] for p in PAGE_LINES])
def test_single_lines_are_read_from_the_page_table(fixtures_dir, name, item, amount, rate, tax):
    doc = read_ofd((fixtures_dir / "ofd" / name).read_bytes())
    (line,) = doc.lines
    assert (line.item_name, line.amount, line.tax_rate, line.tax) == (item, amount, rate, tax)


def test_a_hundred_lines_are_read_from_the_list_pages(fixtures_dir):
    import zipfile
    from io import BytesIO

    data = (fixtures_dir / "ofd" / "ofdrw-draw_param_ref.ofd").read_bytes()
    src, out = zipfile.ZipFile(BytesIO(data)), BytesIO()
    with zipfile.ZipFile(out, "w") as z:  # without its attachment, the reader must fall back to the page text
        for name in src.namelist():
            if "Attachs/" not in name:
                z.writestr(name, src.read(name))
    doc = read_ofd(out.getvalue())
    assert len(doc.lines) == 100 and sum(ln.amount for ln in doc.lines) == D("9709.00")
    assert doc.lines[0].item_name == "*谷物*稻谷" and doc.lines[0].unit == "克"


def test_wrapped_names_units_and_prices_come_from_their_columns(fixtures_dir):
    (line,) = read_ofd((fixtures_dir / "ofd" / "fapiao-print-sample.ofd").read_bytes()).lines
    assert (line.unit, line.quantity, line.unit_price) == ("台", D("2"), D("8849.55752212389"))
