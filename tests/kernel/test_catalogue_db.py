import pytest

from invoicing.catalogue import load_catalogue
from invoicing.models import TaxCategory

pytestmark = pytest.mark.django_db


def test_the_migration_loads_the_whole_catalogue_with_parents():
    assert TaxCategory.objects.count() == 4262
    software = TaxCategory.objects.get(code="3040201000000000000")
    assert software.short_name == "信息技术服务"
    assert software.parent is not None and software.parent.code < software.code
    assert TaxCategory.objects.filter(is_summary=False).count() == 3584
    assert TaxCategory.objects.filter(parent__isnull=True).exclude(code__endswith="000000000000000000").count() == 0


def test_loading_again_changes_nothing():
    assert load_catalogue(TaxCategory) == (0, 0)
    assert TaxCategory.objects.count() == 4262
