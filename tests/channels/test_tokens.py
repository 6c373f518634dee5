"""Provider access tokens: one per entity in the database, refreshed ahead of expiry, fetched once by many workers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from invoicing.channels.base import ChannelUnavailable
from invoicing.channels.models import ChannelToken
from invoicing.channels.tokens import REFRESH_AHEAD, TokenGrant, token_get, token_invalidate

CAP = 50


class Fetcher:
    """A token endpoint: counts its calls, hands out token-1, token-2, ..."""

    def __init__(self, *, expires_in=86400, delay=0.0, fail=None):
        self.calls = 0
        self.expires_in = expires_in
        self.delay = delay
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            self.calls += 1
            n = self.calls
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return TokenGrant(access_token=f"token-{n}", expires_in=self.expires_in)


def get(taxpayer, fetch, cap=CAP):
    return token_get(taxpayer=taxpayer, channel="nuonuo", fetch=fetch, cap=cap)


def test_the_first_call_fetches_and_the_next_ones_reuse_the_stored_token(yuntu):
    fetch = Fetcher()
    assert get(yuntu, fetch) == "token-1"
    assert get(yuntu, fetch) == "token-1"
    assert fetch.calls == 1
    row = ChannelToken.objects.get(taxpayer=yuntu, channel="nuonuo")
    assert row.expires_at - row.fetched_at == timedelta(days=1)
    assert len(row.fetches) == 1


def test_each_entity_and_channel_has_its_own_token(yuntu, mingyuan):
    fetch = Fetcher()
    assert get(yuntu, fetch) != get(mingyuan, fetch)
    assert token_get(taxpayer=yuntu, channel="other", fetch=fetch, cap=CAP) == "token-3"
    assert ChannelToken.objects.count() == 3


def test_the_token_is_stored_encrypted(yuntu):
    get(yuntu, Fetcher())
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM invoicing_channeltoken")
        (stored,) = cursor.fetchone()
    assert stored.startswith("enc1:") and "token-1" not in stored


def test_a_token_is_refreshed_ahead_of_its_expiry_not_after(yuntu):
    fetch = Fetcher()
    get(yuntu, fetch)
    expires = ChannelToken.objects.get().expires_at
    with time_machine.travel(expires - REFRESH_AHEAD - timedelta(minutes=1), tick=False):
        assert get(yuntu, fetch) == "token-1"  # more than the margin left
    with time_machine.travel(expires - REFRESH_AHEAD + timedelta(minutes=1), tick=False):
        assert get(yuntu, fetch) == "token-2"  # still valid, but refreshed ahead
    assert fetch.calls == 2


def test_a_failed_fetch_is_counted_remembered_and_raised(yuntu):
    with pytest.raises(ChannelUnavailable):
        get(yuntu, Fetcher(fail=ChannelUnavailable("bad secret", kind="session", code="070101")))
    row = ChannelToken.objects.get()
    assert len(row.fetches) == 1 and "070101" in row.last_error and not row.access_token
    assert get(yuntu, Fetcher()) == "token-1"
    assert ChannelToken.objects.get().last_error == ""


def test_at_the_cap_no_token_is_fetched(yuntu):
    now = timezone.now()
    ChannelToken.objects.create(taxpayer=yuntu, channel="nuonuo",
                                fetches=[(now - timedelta(hours=i)).isoformat() for i in range(CAP)])
    fetch = Fetcher()
    with pytest.raises(ChannelUnavailable) as exc:
        get(yuntu, fetch)
    assert exc.value.kind == "session" and exc.value.code == "token_cap"
    assert fetch.calls == 0
    assert "上限" in ChannelToken.objects.get().last_error


def test_fetches_older_than_30_days_no_longer_count(yuntu):
    old = timezone.now() - timedelta(days=31)
    ChannelToken.objects.create(taxpayer=yuntu, channel="nuonuo",
                                fetches=[(old - timedelta(hours=i)).isoformat() for i in range(CAP)])
    assert get(yuntu, Fetcher()) == "token-1"
    assert len(ChannelToken.objects.get().fetches) == 1


def test_at_the_cap_a_token_still_valid_is_used_rather_than_refreshed(yuntu):
    now = timezone.now()
    ChannelToken.objects.create(taxpayer=yuntu, channel="nuonuo", access_token="old", fetched_at=now,
                                expires_at=now + REFRESH_AHEAD / 2,
                                fetches=[(now - timedelta(hours=i)).isoformat() for i in range(CAP)])
    fetch = Fetcher()
    assert get(yuntu, fetch) == "old"
    assert fetch.calls == 0


def test_a_refused_token_is_invalidated_once_it_is_a_few_minutes_old(yuntu):
    fetch = Fetcher()
    get(yuntu, fetch)
    assert token_invalidate(taxpayer=yuntu, channel="nuonuo", token="token-1") is False  # just fetched: not it
    assert get(yuntu, fetch) == "token-1"
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        assert token_invalidate(taxpayer=yuntu, channel="nuonuo", token="token-1") is True
        assert get(yuntu, fetch) == "token-2"
        # another worker reports the old token afterwards: the new one stays
        assert token_invalidate(taxpayer=yuntu, channel="nuonuo", token="token-1") is True
        assert get(yuntu, fetch) == "token-2"
    assert fetch.calls == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_workers_needing_a_token_at_once_fetch_it_once(yuntu):
    fetch = Fetcher(delay=0.3)
    tokens: list[str] = []
    barrier = threading.Barrier(6)

    def worker():
        try:
            barrier.wait()
            tokens.append(get(yuntu, fetch))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fetch.calls == 1
    assert tokens == ["token-1"] * 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_while_one_worker_refreshes_the_others_keep_using_the_still_valid_token(yuntu):
    now = timezone.now()
    ChannelToken.objects.create(taxpayer=yuntu, channel="nuonuo", access_token="old", fetched_at=now,
                                expires_at=now + REFRESH_AHEAD / 2)
    fetch = Fetcher(delay=1.0)
    results: dict[str, tuple[str, float]] = {}
    started = threading.Event()

    def refresher():
        try:
            started.set()
            results["refresher"] = (get(yuntu, fetch), time.monotonic())
        finally:
            connection.close()

    def other():
        try:
            started.wait()
            time.sleep(0.3)  # the refresher holds the lock by now
            results["other"] = (get(yuntu, fetch), time.monotonic())
        finally:
            connection.close()

    threads = [threading.Thread(target=refresher), threading.Thread(target=other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["refresher"][0] == "token-1"
    assert results["other"][0] == "old"
    assert results["other"][1] < results["refresher"][1]  # did not wait for the fetch
    assert fetch.calls == 1
