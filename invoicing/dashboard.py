"""The admin home's number cards (看板): a registry the apps fill, since the kernel imports no app.

Each app registers providers (``dashboard_card_register``) from its ``AppConfig.ready``. A provider takes the
request's user and returns cards already scoped to the user's entities (``invoicing.scoping``); each provider runs a
constant number of queries (one aggregate with ``filter=Q(...)`` gives several counts at once), so the page runs a
constant number of queries at any data size.

Audience: finance and administrators see every card; customer service sees only the providers registered with
``customer_service=True`` (its review queue and its deliveries); other roles see none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from django.contrib.auth.models import AnonymousUser, User
from django.utils.functional import Promise

from invoicing.roles import ADMINISTRATOR, CUSTOMER_SERVICE, FINANCE

Tone = Literal["ok", "warn", "bad", "info"]
Label = str | Promise


@dataclass(frozen=True)
class Card:
    """One number on the home page, a link to the filtered list behind it."""

    title: Label
    value: str  # already formatted (a count, a share, a date)
    tone: Tone = "info"
    url: str = ""
    help: Label = ""
    order: int = 100


Provider = Callable[[User], Sequence[Card]]


@dataclass(frozen=True)
class _Registered:
    provider: Provider
    customer_service: bool


_PROVIDERS: dict[str, _Registered] = {}


def dashboard_card_register(provider: Provider, *, customer_service: bool = False) -> None:
    """Add ``provider``'s cards to the home page (idempotent: keyed by the provider's qualified name)."""
    key = f"{provider.__module__}.{provider.__qualname__}"
    _PROVIDERS[key] = _Registered(provider, customer_service)


def count_tone(count: int, *, bad: bool = False) -> Tone:
    """A count's tone: nothing to do is ok; something is a warning (or bad, for failures)."""
    if count == 0:
        return "ok"
    return "bad" if bad else "warn"


def dashboard_audience(user: User | AnonymousUser | None) -> Literal["all", "customer_service", "none"]:
    """Which cards ``user`` gets: one query for the role names (none for a superuser)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return "none"
    if user.is_superuser:
        return "all"
    roles = set(user.groups.values_list("name", flat=True))
    if roles & {FINANCE, ADMINISTRATOR}:
        return "all"
    if CUSTOMER_SERVICE in roles:
        return "customer_service"
    return "none"


def dashboard_cards(user: User | AnonymousUser | None) -> list[Card]:
    """Every card ``user`` may see, in display order."""
    audience = dashboard_audience(user)
    if audience == "none" or not isinstance(user, User):
        return []
    cards: list[Card] = []
    for registered in _PROVIDERS.values():
        if audience == "customer_service" and not registered.customer_service:
            continue
        cards.extend(registered.provider(user))
    return sorted(cards, key=lambda card: card.order)
