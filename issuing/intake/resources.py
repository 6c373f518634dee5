"""django-import-export's face of the billing import, for small files in the admin (upload, preview, confirm).

It runs the same validator as the fast path (``issuing.importing.validate``), on the same cell values (the file is
read with the same readers through ``BillingXLSX`` / ``BillingCSV``):

* ``before_import`` validates the whole file. When anything is wrong, nothing is created and the dataset is replaced
  by one row per problem, each reported as an invalid row (sheet, row, column, value, rule and message), so the admin
  shows every error at once and offers no confirm button. An error workbook is written for download.
* When the file is valid, the documents are inserted with the fast path's writer and the dataset is replaced by the
  normalised lines (document id, line number, computed totals…), which import-export then imports as
  ``BillingDocumentLine`` rows keyed by their natural key (document, line_no). A dry run (the preview) rolls back.

Configured for safety (style.md item 13): transactions on, ``clean_model_instances``, natural-key import ids.
"""

from __future__ import annotations

import logging
import uuid

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext
from import_export import fields, resources, widgets
from import_export.formats import base_formats
from import_export.results import RowResult

from invoicing import formatting
from invoicing.intake import jobs as intake_jobs
from invoicing.intake.error_workbook import write_error_workbook
from invoicing.intake.issues import FileRejected
from invoicing.intake.readers import read_bytes_table, table_from_rows
from issuing.billing import services as billing_services
from issuing.billing.models import BillingDocument, BillingDocumentLine
from issuing.intake.run import import_actor
from issuing.intake.validate import BillingValidator
from issuing.intake.writer import LINE_COLUMNS, insert_documents, line_values

logger = logging.getLogger(__name__)
ISSUE_HEADERS = ["工作表", "行号", "列", "单元格内容", "规则", "错误说明"]
DATASET_COLUMNS = tuple(c.removesuffix("_id") for c in LINE_COLUMNS)  # document, line_no, item, …
MAX_SHOWN_ISSUES = 1000


# --- formats: the fast path's readers behind import-export's format interface ------------------------------------


def _dataset_from_bytes(data: bytes, filename: str) -> tablib.Dataset:
    """Read with our readers; keep raw cell values (floats, dates) so the validator sees what the fast path sees."""
    try:
        table = read_bytes_table(data, filename)
    except FileRejected as exc:
        ds = tablib.Dataset(["?"], headers=["?"])  # one placeholder row, so the admin goes on to before_import
        ds.fapiao_issues = exc.issues
        ds.fapiao_rejected = True
        return ds
    try:
        width = len(table.headers)
        ds = tablib.Dataset(headers=[h or f"列{i + 1}" for i, h in enumerate(table.headers)], title=table.sheet)
        for _rowno, cells in table.rows():
            cells = list(cells[:width]) + [""] * (width - len(cells))
            ds.append(cells)
        ds.fapiao_issues = list(table.issues)
        ds.fapiao_rejected = False
        ds.fapiao_headers = list(table.headers)
    except FileRejected as exc:
        ds = tablib.Dataset(["?"], headers=["?"])
        ds.fapiao_issues = exc.issues
        ds.fapiao_rejected = True
    finally:
        table.close()
    return ds


class BillingXLSX(base_formats.XLSX):
    """.xlsx read with python-calamine and the structural checks (merged cells, formulas, encryption…)."""

    def create_dataset(self, in_stream, **kwargs):
        return _dataset_from_bytes(in_stream, "import.xlsx")


class BillingCSV(base_formats.CSV):
    """.csv read as bytes (UTF-8 or GB18030 detected), like the fast path."""

    def get_read_mode(self):
        return "rb"

    def is_binary(self):
        return True

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, str):
            in_stream = in_stream.encode("utf-8")
        return _dataset_from_bytes(in_stream, "import.csv")


def _column_label(name: str) -> str:
    """The preview's column header: the field's Chinese name (订单, 行号, 项目名称…), not its code."""
    try:
        return str(capfirst(BillingDocumentLine._meta.get_field(name).verbose_name))
    except FieldDoesNotExist:
        return name


# --- the resource --------------------------------------------------------------------------------------------------


class _ShownAs:
    """A foreign key shown in the preview by what people know it by (订单号 and 购买方, 商品编码, 税收分类编码),
    not by its internal id."""

    def __init__(self, *args, label, **kwargs):
        super().__init__(*args, **kwargs)
        self.label = label

    def render(self, value, obj=None, **kwargs):
        if isinstance(value, models.Model):
            return self.label(value)
        return super().render(value, obj, **kwargs)


class _ShownAsFK(_ShownAs, widgets.ForeignKeyWidget):
    pass


class _ShownAsCachedFK(_ShownAs, widgets.CachedForeignKeyWidget):
    pass


class _ShownAsNumber(widgets.DecimalWidget):
    """A decimal shown in the preview as the admin shows it (1,060.00; 6%; quantities without noise)."""

    kind = "money"

    def render(self, value, obj=None, **kwargs):
        if kwargs.get("force_native_type") or not self.coerce_to_string:
            return super().render(value, obj, **kwargs)
        return formatting.FORMATTERS[self.kind](value, empty="")


_NUMBER_WIDGETS = {kind: type(f"_ShownAs_{kind}", (_ShownAsNumber,), {"kind": kind}) for kind in formatting.FORMATTERS}


class _ShownAsYesNo(widgets.BooleanWidget):
    """是 / 否 in the preview, not 1 / 0."""

    def render(self, value, obj=None, **kwargs):
        if kwargs.get("force_native_type") or not self.coerce_to_string or not isinstance(value, bool):
            return super().render(value, obj, **kwargs)
        return gettext("是") if value else gettext("否")


def _document_label(doc) -> str:
    return f"{doc.external_no} {doc.buyer_name}".strip()


class BillingLineResource(resources.ModelResource):
    document = fields.Field(attribute="document", column_name="document",
                            widget=_ShownAsFK(BillingDocument, label=_document_label))
    item = fields.Field(attribute="item", column_name="item",
                        widget=_ShownAsFK(BillingDocumentLine._meta.get_field("item").related_model,
                                          label=lambda item: f"{item.code} {item.name}".strip()))
    tax_category = fields.Field(
        attribute="tax_category", column_name="tax_category",
        widget=_ShownAsCachedFK(BillingDocumentLine._meta.get_field("tax_category").related_model,
                                label=lambda category: category.code),
    )

    class Meta:
        model = BillingDocumentLine
        fields = DATASET_COLUMNS
        import_id_fields = ("document", "line_no")
        use_transactions = True
        clean_model_instances = True
        skip_unchanged = False
        report_skipped = True

    @classmethod
    def widget_from_django_field(cls, f, default=widgets.Widget):
        if isinstance(f, models.DecimalField):
            return _NUMBER_WIDGETS[formatting.number_kind(f)]
        if isinstance(f, models.BooleanField):
            return _ShownAsYesNo
        return super().widget_from_django_field(f, default)

    def __init__(self, *, taxpayer=None, **kwargs):
        super().__init__(**kwargs)
        self.taxpayer = taxpayer
        self.issue_rows: list | None = None
        self.issues: list = []
        self.issue_count = 0
        self.errors_job: str | None = None
        self._errors_record: dict = {}
        self.report = None
        self.written = (0, 0)
        self.written_ids: list[int] = []

    # -- before: validate everything, then either issues or normalised lines --

    def before_import(self, dataset, **kwargs):
        user = kwargs.get("user")
        issues = list(getattr(dataset, "fapiao_issues", []))
        if getattr(dataset, "fapiao_rejected", False):
            self._to_issue_rows(dataset, issues, len(issues), user)
            return
        validator = BillingValidator(user=user, taxpayer=self.taxpayer, chunk_rows=10**9, sheet=dataset.title or "")
        table = table_from_rows(getattr(dataset, "fapiao_headers", None) or list(dataset.headers),
                                [list(r) for r in dataset], sheet=dataset.title or "Sheet1")
        table.issues = issues
        plans: list = []
        report = validator.run(table, on_chunk=plans.extend)
        if not report.ok:
            self._to_issue_rows(dataset, report.issues, report.issue_count, user)
            return
        ids = insert_documents(plans, user=user)
        self.report = report
        self.written = (len(plans), sum(len(p.lines) for p in plans))
        self.written_ids = ids
        dataset.wipe()
        dataset.headers = list(DATASET_COLUMNS)
        for doc_id, plan in zip(ids, plans, strict=True):
            for ln in plan.lines:
                dataset.append(list(line_values(doc_id, ln)))

    def _to_issue_rows(self, dataset, issues, total, user) -> None:
        self.issues = list(issues)
        self.issue_count = total
        self.issue_rows = self.issues[:MAX_SHOWN_ISSUES]
        # Only the workbook here: this runs inside the import's savepoint, which is rolled back since nothing may be
        # written; the job row that lets its owner download the workbook is recorded after it (after_import).
        self.errors_job = uuid.uuid4().hex
        errors, _ = intake_jobs.write_file(self.errors_job, "errors.xlsx",
                                           lambda target: write_error_workbook(self.issues, target, total=total))
        self._errors_record = {"user_id": getattr(user, "pk", None), "status": intake_jobs.FAILED,
                               "errors_file": errors, "rows_in_error": total, "total": total,
                               "taxpayer_id": self.taxpayer.pk if self.taxpayer else None,
                               "message": f"发现 {total} 个错误，未写入任何数据"}
        dataset.wipe()
        dataset.headers = ISSUE_HEADERS
        for item in self.issue_rows:
            dataset.append([item.sheet, item.row, item.column, item.value, item.code, item.message])

    def handle_import_error(self, result, error, raise_errors=False):
        # The admin page shows a generic message (templates/admin/issuing/import_billing.html); the detail is here.
        logger.error("billing import failed", exc_info=error)
        super().handle_import_error(result, error, raise_errors)

    def import_row(self, row, instance_loader, **kwargs):
        result = self._import_row(row, instance_loader, **kwargs)
        for error in getattr(result, "errors", None) or ():
            logger.error("billing import row %s failed", kwargs.get("row_number"), exc_info=error.error)
        return result

    def _check_import_id_fields(self, headers):
        if self.issue_rows is None:
            super()._check_import_id_fields(headers)

    def get_diff_headers(self):
        if self.issue_rows is not None:
            return ISSUE_HEADERS
        return [_column_label(field.attribute or field.column_name) for field in self.get_import_fields()]

    # -- rows --

    def _import_row(self, row, instance_loader, **kwargs):
        if self.issue_rows is None:
            return super().import_row(row, instance_loader, **kwargs)
        number = kwargs.get("row_number", 0)
        item = self.issue_rows[number - 1] if 0 < number <= len(self.issue_rows) else None
        result = self.get_row_result_class()()
        result.import_type = RowResult.IMPORT_TYPE_INVALID
        result.validation_error = ValidationError({NON_FIELD_ERRORS: [str(item) if item else "导入失败"]})
        return result

    def after_import(self, dataset, result, **kwargs):
        if self.report is not None and not kwargs.get("dry_run") and not result.has_errors():
            billing_services.billing_documents_record_import(
                actor=import_actor(kwargs.get("user")), document_ids=self.written_ids,
                taxpayer_ids=self.report.taxpayer_ids, filename=kwargs.get("file_name") or "", lines=self.written[1],
                path="admin",
            )
        result.fapiao_issues = self.issue_rows or []
        result.fapiao_issue_count = self.issue_count
        result.fapiao_errors_job = self.errors_job
        result.fapiao_errors_record = self._errors_record
        errors_job_record(result)


def errors_job_record(result) -> None:
    """The job row that lets its owner download the error workbook, once. ``after_import`` runs inside the import's
    transaction, which is rolled back when nothing may be written: where job rows share that connection (SQLite, or
    ``JOBS_DATABASE=default``) the row goes with it, so the admin view calls this again after the import returns."""
    job = getattr(result, "fapiao_errors_job", None)
    if job and intake_jobs.read(job) is None:
        intake_jobs.create("import-errors", job_id=job, **getattr(result, "fapiao_errors_record", {}))

