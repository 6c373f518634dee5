"""The demo's example mailboxes: one per entity, disabled, on a host that never resolves; nothing reads them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from invoicing.demo import seed as seed_kernel
from invoicing.models import Taxpayer
from receiving import demo
from receiving.mailbox import fetching, services
from receiving.mailbox.models import Mailbox

pytestmark = pytest.mark.django_db


def test_each_entity_gets_one_disabled_example_mailbox_that_is_never_read(monkeypatch):
    seed_kernel()
    monkeypatch.setattr(demo, "_seed_uploads", lambda stdout=None: None)  # the pool's part is tests/receiving's
    demo._seed_mailboxes()
    demo._seed_mailboxes()
    boxes = Mailbox.objects.all()
    assert sorted(b.taxpayer_id for b in boxes) == sorted(Taxpayer.objects.filter(is_active=True)
                                                          .values_list("pk", flat=True))
    assert all(not b.enabled and b.host.endswith(".invalid") and b.password for b in boxes)
    assert services.mailboxes_claim_due() == []  # the beat sends nothing
    box = boxes.first()
    with pytest.raises(ValidationError, match="邮箱已停用"):
        services.mailbox_fetch_request(mailbox=box, actor=None)
    assert fetching.mailbox_fetch(box.pk).status == "disabled"
    box.refresh_from_db()
    assert box.last_run_at is None and box.last_error == ""
