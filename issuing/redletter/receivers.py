"""Red-letter forms' answer to the kernel's question before an entity's channel changes (``invoicing.channels.signals``),
connected in ``issuing.apps.IssuingConfig.ready``."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import ngettext

from invoicing.models import Taxpayer
from issuing.redletter.models import EFFECTIVE, OPEN_REMOTE, RedLetterForm


def on_channel_switch(sender: type[Taxpayer], *, taxpayer: Taxpayer, **kwargs: Any) -> list[str]:
    """Forms the current platform still works on (submitted, waiting for a confirmation, or effective with the red
    invoice not yet recorded) exist only there."""
    n = RedLetterForm.objects.filter(
        Q(status__in=OPEN_REMOTE) | Q(status__in=EFFECTIVE, red_invoice__isnull=True), taxpayer=taxpayer,
    ).count()
    if not n:
        return []
    return [ngettext("有 %(n)d 张红字确认单在原通道办理中；请待其办结后再切换通道",
                     "有 %(n)d 张红字确认单在原通道办理中；请待其办结后再切换通道", n) % {"n": n}]
