"""Fault injection: what goes wrong with a call, decided per account profile or per request.

Per request, the header ``X-Sandbox-Fault`` forces faults for that call only (tests and demos), as a comma list of
``error``, ``timeout_before``, ``timeout_after``, ``duplicate``, ``session``, ``rate_limit`` and ``latency=<ms>``.
An enabled ``FaultProfile`` draws the rest from ``random.Random(f"{seed}:{n}")`` for the n-th call, so a run repeats
exactly for the same seed.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F

from sandbox.models import FaultProfile, SandboxAccount

KINDS = ("error", "timeout_before", "timeout_after", "duplicate", "session", "rate_limit")
DRAWN_KINDS = ("error", "timeout_before", "timeout_after", "duplicate")  # what an enabled profile draws per call


@dataclass
class Decision:
    kinds: set[str] = field(default_factory=set)
    latency_ms: int = 0

    def __contains__(self, kind: str) -> bool:
        return kind in self.kinds


def parse_header(value: str) -> Decision:
    decision = Decision()
    for part in (value or "").split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part.startswith("latency="):
            try:
                decision.latency_ms = max(0, int(part.split("=", 1)[1]))
            except ValueError:
                pass
        elif part in KINDS:
            decision.kinds.add(part)
    return decision


def _rate_limited(profile: FaultProfile) -> bool:
    """At most ``rate_limit_per_second`` calls in one wall-clock second for the account."""
    second = int(time.time())
    with transaction.atomic():
        p = FaultProfile.objects.select_for_update().get(pk=profile.pk)
        if p.window_second != second:
            p.window_second, p.window_count = second, 0
        p.window_count += 1
        p.save(update_fields=["window_second", "window_count"])
        return p.window_count > p.rate_limit_per_second


def decide(account: SandboxAccount, header: str = "") -> Decision:
    decision = parse_header(header)
    profile = FaultProfile.objects.filter(account=account).first()
    if profile is None or not profile.enabled:
        return decision
    decision.latency_ms = max(decision.latency_ms, profile.latency_ms)
    if profile.session_dropped:
        decision.kinds.add("session")
    if profile.rate_limit_per_second and _rate_limited(profile):
        decision.kinds.add("rate_limit")
    with transaction.atomic():
        FaultProfile.objects.filter(pk=profile.pk).update(draws=F("draws") + 1)
        n = FaultProfile.objects.values_list("draws", flat=True).get(pk=profile.pk)
    decision.kinds |= drawn_kinds(profile, n)
    return decision


def drawn_kinds(profile: FaultProfile, n: int) -> set[str]:
    """The faults the profile's rates draw for its ``n``-th call (``random.Random(f"{seed}:{n}")``, in
    ``DRAWN_KINDS`` order). ``decide`` uses it; a soak replays its draws with it."""
    rng = random.Random(f"{profile.seed}:{n}")
    rates = (profile.error_rate, profile.timeout_before_rate, profile.timeout_after_rate, profile.duplicate_reply_rate)
    return {kind for kind, rate in zip(DRAWN_KINDS, rates, strict=True) if rng.random() < float(rate)}


def _check_knobs(values: dict) -> None:
    allowed = {f.name for f in FaultProfile._meta.get_fields() if getattr(f, "editable", False)} - {"id", "account"}
    unknown = set(values) - allowed
    if unknown:
        raise TypeError(f"unknown fault knobs: {sorted(unknown)}")


def profile_set(*, account: SandboxAccount, **values) -> FaultProfile:
    """Switch faults for an account (admin, demo, tests). Unknown knobs raise TypeError."""
    _check_knobs(values)
    profile, _ = FaultProfile.objects.get_or_create(account=account)
    for key, value in values.items():
        setattr(profile, key, value)
    profile.full_clean()
    profile.save()
    return profile


def profile_clear(*, account: SandboxAccount) -> FaultProfile:
    return profile_set(
        account=account, enabled=False, latency_ms=0, error_rate=0, timeout_before_rate=0, timeout_after_rate=0,
        duplicate_reply_rate=0, session_dropped=False, rate_limit_per_second=0,
    )


def profile_switch(*, account: SandboxAccount, **values) -> int:
    """Turn knobs of a running profile (``enabled``, ``session_dropped``, ...) with an UPDATE of those columns
    only: ``profile_set`` saves the whole row, including the draw counter that calls are incrementing at the same
    moment. Returns the number of profiles changed (0 or 1)."""
    _check_knobs(values)
    return FaultProfile.objects.filter(account=account).update(**values)
