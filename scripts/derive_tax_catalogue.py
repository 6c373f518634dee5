"""Derive invoicing/data/tax_categories_2021_06.csv from the 2021-06 商品和服务税收分类编码表 (xlsx).

Usage: python scripts/derive_tax_catalogue.py PATH/TO/tax-classification-codes-2021-06.xlsx [OUT.csv]

The xlsx (thefunpower/fapiao · data/code.xlsx · 732da5d6, Apache-2.0; the table itself is published by the State
Taxation Administration) has no rate column. ``allowed_rates`` is DERIVED here from domain.md §6.1 by code prefix and is
UNVERIFIED; see invoicing/data/README.md. Codes are read as text, never as numbers.
"""

from __future__ import annotations

import csv
import sys
from decimal import Decimal
from pathlib import Path

from python_calamine import CalamineWorkbook

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "invoicing" / "data" / "tax_categories_2021_06.csv"
HEADER = ["序号", "分类名称", "分类编码", "分类简码", "是否为汇总项", "可用状态", "简称", "说明", "关键字"]
FIELDS = [
    "code",
    "name",
    "short_name",
    "parent_code",
    "is_summary",
    "is_active",
    "allowed_rates",
    "description",
    "keywords",
]
CODE_LENGTH = 19
EXPECTED_ROWS = 4262

# Longest matching prefix wins; a code with children gets the union of its descendants' rates instead. DERIVED from domain.md §6.1 (财税〔2016〕36号, 公告2019年第39号), UNVERIFIED per item.
# "0" on goods, 对外加工修理修配, international transport and the exportable services stands for 零税率 on export;
# on 篇 6 it stands for 不征税.
RATES_BY_PREFIX: dict[str, tuple[str, ...]] = {
    "1": ("0.13", "0"),  # 货物
    "101": ("0.09", "0"),  # 农产品
    "1030104": ("0.13", "0.09", "0"),  # 饲料 (9%) 及宠物食品 (13%)
    "103010501": ("0.09", "0"),  # 食用植物油
    "106020101": ("0.09", "0"),  # 有刊号图书、报纸、期刊
    "1060302": ("0.09", "0"),  # 电子出版物
    "1070204": ("0.09", "0"),  # 化学肥料
    "1070205": ("0.09", "0"),  # 有机肥料及微生物肥料
    "1070206": ("0.09", "0"),  # 化学农药
    "1070207": ("0.09", "0"),  # 生物农药及微生物农药
    "1090235": ("0.09", "0"),  # 拖拉机及农林牧渔用挂车 (农机)
    "1090236": ("0.09", "0"),  # 机械化农业及园艺机具
    "1090237": ("0.09", "0"),  # 营林及木竹采伐机械
    "1090238": ("0.09", "0"),  # 畜牧机械
    "1090239": ("0.09", "0"),  # 渔业捕捞养殖机械
    "1090240": ("0.09", "0"),  # 农产品初加工机械
    "11001": ("0.13", "0"),  # 电力
    "1100102": ("0.09", "0"),  # 热力 / 暖气
    "1100103": ("0.09", "0"),  # 冷气
    "11002": ("0.09", "0"),  # 燃气, 天然气
    "1100301": ("0.09", "0"),  # 自来水 etc.
    "1100302": ("0.13", "0"),  # 冰雪
    "2": ("0.13", "0"),  # 加工修理修配劳务
    "301": ("0.09", "0"),  # 交通运输 (国际运输 zero-rated)
    "302": ("0.09",),  # 邮政
    "30301": ("0.09",),  # 基础电信
    "30302": ("0.06",),  # 增值电信
    "304": ("0.06",),  # 现代服务
    "30401": ("0.06", "0"),  # 研发和技术服务
    "30402": ("0.06", "0"),  # 信息技术服务
    "30403": ("0.06", "0"),  # 文化创意服务 (设计)
    "304050101": ("0.13",),  # 有形动产融资租赁
    "304050102": ("0.13", "0.06"),  # 有形动产融资租赁售后回租 (售后回租 is 贷款服务 since 2016-05)
    "304050103": ("0.09",),  # 不动产融资租赁
    "304050201": ("0.13",),  # 有形动产经营租赁
    "304050202": ("0.09",),  # 不动产经营租赁
    "30407": ("0.06", "0"),  # 广播影视服务 (节目制作和发行)
    "305": ("0.09",),  # 建筑服务
    "306": ("0.06",),  # 金融服务
    "307": ("0.06",),  # 生活服务
    "4": ("0.06",),  # 无形资产
    "401": ("0.06", "0"),  # 技术
    "40501": ("0.09",),  # 土地使用权
    "5": ("0.09",),  # 不动产
    "6": ("0",),  # 未发生销售行为的不征税项目
}


def allowed_rates(code: str) -> str:
    """The rates of the longest prefix in RATES_BY_PREFIX that ``code`` starts with, joined by ';'."""
    best = max((p for p in RATES_BY_PREFIX if code.startswith(p)), key=len, default=None)
    if best is None:
        raise ValueError(f"no rate rule for code {code}")
    return ";".join(RATES_BY_PREFIX[best])


def ancestors(code: str) -> list[str]:
    """Codes one level up, two levels up, ...: trim the 1 + 9×2 digit levels and right-pad with zeros (§7.1)."""
    out = []
    for length in range(CODE_LENGTH - 2, 0, -2):
        candidate = code[:length].ljust(CODE_LENGTH, "0")
        if candidate != code and candidate not in out:
            out.append(candidate)
    return out


def _text(value: object, what: str) -> str:
    if isinstance(value, float):
        raise TypeError(f"{what} came back as a float ({value!r}); read the column as text")
    return "" if value is None else str(value).strip()


def read_rows(xlsx: Path) -> list[dict[str, str]]:
    workbook = CalamineWorkbook.from_path(str(xlsx))
    sheet = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    header = [_text(c, "header") for c in sheet[0]]
    if header != HEADER:
        raise ValueError(f"unexpected header {header}")
    rows = []
    for raw in sheet[1:]:
        cells = [_text(c, HEADER[i]) for i, c in enumerate(raw)]
        if not any(cells):
            continue
        code = cells[2]
        if len(code) != CODE_LENGTH or not code.isdigit():
            raise ValueError(f"row {cells[0]}: code {code!r} is not {CODE_LENGTH} digits")
        rows.append(
            {
                "code": code,
                "name": cells[1],
                "short_name": cells[6],
                "is_summary": cells[4],
                "is_active": cells[5],
                "description": cells[7],
                "keywords": cells[8],
            }
        )
    return rows


def _rate_key(rate: str) -> tuple[int, Decimal]:
    return (rate == "0", -Decimal(rate))


def derive(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Add parent_code (nearest existing ancestor) and allowed_rates to every row."""
    codes = {r["code"] for r in rows}
    if len(codes) != len(rows):
        raise ValueError("duplicate codes")
    parent_of = {r["code"]: next((a for a in ancestors(r["code"]) if a in codes), "") for r in rows}
    has_children = set(parent_of.values())
    below: dict[str, set[str]] = {c: set() for c in codes}
    for code in codes:
        if code in has_children:
            continue
        rates = set(allowed_rates(code).split(";"))
        node = code
        while node:
            below[node] |= rates
            node = parent_of[node]
    return [
        {**r, "parent_code": parent_of[r["code"]], "allowed_rates": ";".join(sorted(below[r["code"]], key=_rate_key))}
        for r in rows
    ]


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    xlsx = Path(argv[1])
    out_path = Path(argv[2]) if len(argv) == 3 else DEFAULT_OUT
    rows = derive(read_rows(xlsx))
    if len(rows) != EXPECTED_ROWS:
        raise SystemExit(f"expected {EXPECTED_ROWS} rows, read {len(rows)}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
