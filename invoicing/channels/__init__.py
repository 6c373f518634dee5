"""Tax-platform channels. Business code calls ``get_channel(taxpayer)`` and speaks only the contract in ``base``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoicing.channels.base import (
    Capability,
    ChannelDuplicate,
    ChannelError,
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
    TaxChannel,
)
from invoicing.channels.nuonuo import NuonuoChannel
from invoicing.channels.sandbox import SandboxChannel

if TYPE_CHECKING:
    from invoicing.models import Taxpayer

__all__ = [
    "Capability",
    "ChannelDuplicate",
    "ChannelError",
    "ChannelRejected",
    "ChannelUnavailable",
    "ChannelUnsupported",
    "TaxChannel",
    "get_channel",
]


def get_channel(taxpayer: Taxpayer, *, transport: str | None = None) -> TaxChannel:
    """The channel client for ``taxpayer.channel``. For the sandbox, the transport defaults to
    ``settings.TAX_CHANNEL_TRANSPORT``; Nuonuo is always reached over HTTP (``settings.NUONUO_API_URL``)."""
    if taxpayer.channel == "sandbox":
        return SandboxChannel(taxpayer, transport=transport)
    if taxpayer.channel == "nuonuo":
        return NuonuoChannel(taxpayer)
    raise ChannelUnsupported(f"channel {taxpayer.channel!r}")
