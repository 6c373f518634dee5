"""Throttling per API client, at the rate set on the client (``ApiClient.throttle_rate``)."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from api.permissions import client_of

DEFAULT_RATE = "600/min"


class ClientRateThrottle(SimpleRateThrottle):
    scope = "api_client"

    def get_rate(self) -> str:
        return DEFAULT_RATE  # replaced per request in allow_request

    def allow_request(self, request, view) -> bool:
        client = client_of(request)
        if client is None:
            return True  # unauthenticated calls are refused before they cost anything
        try:
            self.num_requests, self.duration = self.parse_rate(client.throttle_rate or DEFAULT_RATE)
        except (ValueError, KeyError, IndexError):
            self.num_requests, self.duration = self.parse_rate(DEFAULT_RATE)
        self.rate = client.throttle_rate
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str | None:
        client = client_of(request)
        return None if client is None else self.cache_format % {"scope": self.scope, "ident": client.pk}
