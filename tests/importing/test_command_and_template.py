"""manage.py import_billing, the template workbook and the error workbook."""

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from python_calamine import CalamineWorkbook

from invoicing.models import Event
from invoicing.scoping import example_entity
from issuing.intake.run import import_billing_file
from issuing.intake.template import DATA_SHEET, EXAMPLE_SHEET, HELP_SHEET, build_template
from tests.importing.conftest import counts, row, write_xlsx

pytestmark = pytest.mark.django_db


def test_the_command_imports_with_progress_and_records_one_event(tmp_path, master, capsys):
    path = write_xlsx(tmp_path / "g.xlsx", [row(external_no=f"SO-{i}") for i in range(5)])
    call_command("import_billing", str(path))
    out = capsys.readouterr().out
    assert "5/5 行" in out and "已导入：5 张单据，5 行明细" in out
    assert counts() == (5, 5)
    event = Event.objects.get(action="billing_import")
    assert event.data["documents"] == 5 and event.actor is None


def test_the_command_reports_every_error_and_writes_the_error_workbook(tmp_path, master, capsys):
    path = write_xlsx(tmp_path / "b.xlsx", [row(tax_rate="8%"), row(external_no="SO-2", buyer_tax_id="123")])
    errors = tmp_path / "errors.xlsx"
    with pytest.raises(CommandError, match="2 个错误"):
        call_command("import_billing", str(path), "--errors", str(errors))
    err = capsys.readouterr().err
    assert "第2行 [税率]" in err and "rate.not_allowed" in err and "tax_id.invalid" in err
    ws = openpyxl.load_workbook(errors).active
    rows = list(ws.values)
    assert rows[0] == ("工作表", "行号", "列", "单元格内容", "规则", "错误说明")
    assert [(r[1], r[2], r[4]) for r in rows[1:]] == [(2, "税率", "rate.not_allowed"),
                                                      (3, "购买方纳税人识别号", "tax_id.invalid")]
    assert counts() == (0, 0)


def test_the_command_user_is_scoped(tmp_path, master, lily):
    path = write_xlsx(tmp_path / "g.xlsx", [row()])
    with pytest.raises(CommandError):
        call_command("import_billing", str(path), "--user", "lily")
    assert counts() == (0, 0)


def test_the_template_has_chinese_headers_an_example_and_instructions_and_imports_cleanly(tmp_path, master, fiona):
    path = tmp_path / "template.xlsx"
    path.write_bytes(build_template(entity=example_entity(fiona)))
    wb = CalamineWorkbook.from_path(str(path))
    assert wb.sheet_names == [DATA_SHEET, EXAMPLE_SHEET, HELP_SHEET]
    rows = wb.get_sheet_by_name(DATA_SHEET).to_python()
    assert rows[0][:3] == ["主体税号", "来源系统", "*订单号"]
    examples = wb.get_sheet_by_name(EXAMPLE_SHEET).to_python()
    assert examples[0] == rows[0] and len(examples) == 3  # the headers and the example document's two lines
    # The example rows, copied to the data sheet as a user would, import cleanly.
    book = openpyxl.load_workbook(path)
    for values in list(book[EXAMPLE_SHEET].values)[1:]:
        book[DATA_SHEET].append(values)
    filled = tmp_path / "filled.xlsx"
    book.save(filled)
    out = import_billing_file(filled, user=fiona)
    assert out.ok, [str(i) for i in out.issues]
    assert (out.documents, out.lines) == (1, 2)


def test_the_templates_examples_are_never_imported(tmp_path, master, fiona):
    path = tmp_path / "template.xlsx"
    path.write_bytes(build_template())
    out = import_billing_file(path, user=fiona)
    assert not out.ok and out.documents == 0
    assert counts() == (0, 0)
