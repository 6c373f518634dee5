import pytest
from django.contrib.auth.models import Permission

from invoicing import roles
from tests.factories import UserFactory


@pytest.fixture
def nobody(db):
    """A staff user with every issuing view permission but no review, approve or issue permission."""
    user = UserFactory(username="nobody", entities=None)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="issuing", codename__startswith="view_"))
    return user


@pytest.fixture
def finance_group_synced(db):
    roles.sync_role_permissions()
