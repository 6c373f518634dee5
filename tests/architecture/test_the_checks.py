"""The architecture checks themselves, on small made-up modules: each finds what it must and lets pass the rest."""

from __future__ import annotations

import ast
import textwrap

from tests.architecture.codebase import ROOT, Source
from tests.architecture.test_imports_at_top import unexplained_late_imports
from tests.architecture.test_private_names import private_name_crossings


def source(module: str, code: str) -> Source:
    text = textwrap.dedent(code)
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    return Source(path=path, module=module, is_package=False, tree=ast.parse(text), lines=tuple(text.splitlines()))


def test_a_private_name_imported_from_another_module_is_found():
    found = private_name_crossings(source("issuing.billing.example", """
        from issuing.workflow import _next_number, authorize
        from issuing.billing import selectors
        import issuing.workflow
        from issuing import workflow as wf

        def f(doc):
            selectors._refresh_document_status(doc)
            issuing.workflow._next_number("SQ")
            return wf._raise_failures([])
    """))
    assert found == [
        "issuing/billing/example.py:2: from issuing.workflow import _next_number",
        "issuing/billing/example.py:8: selectors._refresh_document_status (private name of issuing.billing.selectors)",
        "issuing/billing/example.py:9: issuing.workflow._next_number (private name of issuing.workflow)",
        "issuing/billing/example.py:10: wf._raise_failures (private name of issuing.workflow)",
    ]


def test_a_relative_import_of_a_private_name_is_found():
    found = private_name_crossings(source("invoicing.documents.example", """
        from .xml import _amount_in_words
    """))
    assert found == ["invoicing/documents/example.py:2: from invoicing.documents.xml import _amount_in_words"]


def test_public_names_dunders_own_attributes_and_library_privates_pass():
    assert private_name_crossings(source("issuing.billing.example", """
        import celery
        from issuing.workflow import authorize
        from issuing.billing.models import BillingDocument

        def f(app):
            celery._state  # a library's business, not ours
            app._pool = None
            BillingDocument._meta.get_fields()
            return authorize.__name__, __name__
    """)) == []


def test_a_private_module_is_its_package_s_own():
    code = """
        from invoicing.documents import _safety
        from invoicing.documents._safety import check_xml
    """
    assert private_name_crossings(source("invoicing.documents.example", code)) == []
    assert private_name_crossings(source("issuing.example", code)) == [
        "issuing/example.py:2: from invoicing.documents import _safety",
        "issuing/example.py:3: imports from the private module invoicing.documents._safety",
    ]


def test_a_function_level_import_needs_a_cycle_comment():
    found = unexplained_late_imports(source("issuing.platform.example", """
        from django.db import transaction


        def queue(pk):
            from issuing.platform.tasks import issue_application_task  # cycle: tasks import services

            # cycle: services import this module, which their tasks need
            from issuing.platform import services
            from datetime import timedelta
            from issuing.reports.rollup import rollup_invoice  # cycle:
            return issue_application_task, services, timedelta, rollup_invoice, transaction
    """))
    assert found == [
        "issuing/platform/example.py:10: in queue(): from datetime import timedelta",
        "issuing/platform/example.py:11: in queue(): from issuing.reports.rollup import rollup_invoice  # cycle:",
    ]


def test_app_config_ready_may_import_late_and_a_multi_line_import_may_carry_the_comment_inside():
    assert unexplained_late_imports(source("delivery.example", """
        from django.apps import AppConfig


        class DeliveryConfig(AppConfig):
            def ready(self):
                from delivery import receivers


        def f():
            from delivery.tasks import (  # cycle: tasks import services
                webhook_deliver,
            )
    """)) == []
    assert unexplained_late_imports(source("delivery.example", """
        class NotAnAppConfig:
            def ready(self):
                from delivery import receivers
    """)) == ["delivery/example.py:4: in ready(): from delivery import receivers"]


def test_a_third_party_library_may_load_on_demand_when_the_comment_says_why():
    assert unexplained_late_imports(source("invoicing.documents.example", """
        def render(html):
            from weasyprint import HTML  # lazy: about a second and 50 MB; only renderers need it

            # lazy: pdfplumber loads pdfminer, about 100 ms; only readers need them
            import pdfplumber
            from pdfminer.pdfparser import (  # lazy: loaded with pdfplumber
                PDFSyntaxError,
            )
            return HTML, pdfplumber, PDFSyntaxError
    """)) == []


def test_a_lazy_comment_does_not_excuse_a_project_or_standard_library_import():
    found = unexplained_late_imports(source("invoicing.documents.example", """
        def render(doc):
            from weasyprint import HTML  # lazy:
            from invoicing.words import amount_in_words  # lazy: saves nothing
            from .xml import write_xml  # lazy: relative, so ours
            import issuing.workflow  # lazy: ours
            import weasyprint, invoicing.tax  # lazy: one of them is ours
            from tests.factories import make  # lazy: ours
            import base64  # lazy: the standard library is cheap
            return amount_in_words, write_xml, issuing, weasyprint, make, base64, HTML
    """))
    assert found == [
        "invoicing/documents/example.py:3: in render(): from weasyprint import HTML  # lazy:",
        "invoicing/documents/example.py:4: in render(): from invoicing.words import amount_in_words  # lazy: saves nothing",
        "invoicing/documents/example.py:5: in render(): from .xml import write_xml  # lazy: relative, so ours",
        "invoicing/documents/example.py:6: in render(): import issuing.workflow  # lazy: ours",
        "invoicing/documents/example.py:7: in render(): import weasyprint, invoicing.tax  # lazy: one of them is ours",
        "invoicing/documents/example.py:8: in render(): from tests.factories import make  # lazy: ours",
        "invoicing/documents/example.py:9: in render(): import base64  # lazy: the standard library is cheap",
    ]
