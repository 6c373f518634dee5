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
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from django.contrib.auth.models import AnonymousUser, User
from django.utils.functional import Promise

from invoicing import formatting
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


# --- charts ------------------------------------------------------------------------------------------------------
#
# Charts come the same way: each app registers chart providers (``dashboard_chart_register``) that return
# ``ChartPart``s scoped to the user, each from one query on a rollup. Parts with the same ``chart`` id are merged into
# one chart (the 销项/进项 chart takes its output tax from issuing and its input tax from receiving, which never
# import each other). Labels are translated here, in Python; the page hands them to ECharts through ``json_script``.

ChartKind = Literal["bar", "line", "pie", "hbar"]
ChartValue = Decimal | int


@dataclass(frozen=True)
class Series:
    name: Label
    values: Sequence[ChartValue | None]  # one per category of its part
    stack: str = ""


@dataclass(frozen=True)
class ChartPart:
    chart: str  # the chart's id; parts with the same id are one chart
    title: Label
    kind: ChartKind
    categories: Sequence[str]
    series: Sequence[Series]
    category_label: Label = ""
    order: int = 100


CHART_MONTHS = 12


def chart_months(today: date) -> list[str]:
    """The last ``CHART_MONTHS`` months up to ``today``'s, as YYYY-MM, oldest first."""
    year, month = today.year, today.month
    months = []
    for _ in range(CHART_MONTHS):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def month_start(month: str) -> date:
    """The first day of a YYYY-MM month."""
    return date(int(month[:4]), int(month[5:7]), 1)


ChartProvider = Callable[[User], Sequence[ChartPart]]
_CHART_PROVIDERS: dict[str, ChartProvider] = {}


def dashboard_chart_register(provider: ChartProvider) -> None:
    """Add ``provider``'s chart parts to the home page (idempotent: keyed by the provider's qualified name)."""
    _CHART_PROVIDERS[f"{provider.__module__}.{provider.__qualname__}"] = provider


def chart_data(parts: Sequence[ChartPart]) -> dict[str, Any]:
    """One chart, ready for JSON and for its table, from its parts (one or more, with the same ``chart`` id)."""
    return _merged(parts)


def _merged(parts: Sequence[ChartPart]) -> dict[str, Any]:
    first = parts[0]
    categories = sorted({c for part in parts for c in part.categories}) if len(parts) > 1 else list(first.categories)
    series = []
    shown = []  # each series' values as the table shows them
    for part in parts:
        position = {c: i for i, c in enumerate(part.categories)}
        for s in part.series:
            values = [s.values[position[c]] if c in position else None for c in categories]
            series.append({"name": str(s.name), "stack": s.stack,
                           "values": [v if v is not None else 0 for v in values]})
            shown.append(_table_cells(values))
    return {"id": first.chart, "title": str(first.title), "kind": first.kind, "categories": categories,
            "category_label": str(first.category_label), "series": series, "order": first.order,
            "rows": [[c, *(s["values"][i] for s in series)] for i, c in enumerate(categories)],
            "table": [[c, *(cells[i] for cells in shown)] for i, c in enumerate(categories)]}


def _table_cells(values: Sequence[ChartValue | None]) -> list[str]:
    """A series' values for the chart's table: counts (int) as whole numbers with separators, 18,592; amounts
    (Decimal) as money, 2,078.90. A series is one or the other; one with no value at all is an amount (a sum over
    no rows), its cells 0.00."""
    is_count = any(isinstance(v, int) for v in values) and not any(isinstance(v, Decimal) for v in values)
    return [formatting.quantity(v or 0) if is_count else formatting.money(v or 0) for v in values]


def dashboard_charts(user: User | AnonymousUser | None) -> list[dict[str, Any]]:
    """The charts ``user`` may see (finance and administrators), merged and in display order, ready for JSON."""
    if dashboard_audience(user) != "all" or not isinstance(user, User):
        return []
    by_chart: dict[str, list[ChartPart]] = {}
    for provider in _CHART_PROVIDERS.values():
        for part in provider(user):
            by_chart.setdefault(part.chart, []).append(part)
    charts = [_merged(parts) for parts in by_chart.values()]
    return sorted(charts, key=lambda chart: chart["order"])
