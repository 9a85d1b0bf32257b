"""Rate limits: failed authentications per client address, requests per token.

In-process sliding-window counters (the `limits` package's strategy over the counters of
api/limit_storage.py): each API process counts its own clients, which bounds what one
process serves; several processes behind a balancer each allow the configured rate. A
refused request is a 429 problem with Retry-After in seconds.

Why the sliding-window counter and not the moving window: a moving window keeps one entry
per hit (600 a token at the default rate), which an in-memory storage must walk to expire;
the counter keeps two numbers per key. It counts the previous window's hits weighted by
how much of it is still inside the window, so near a window's edge it refuses a little
early or late (docs/performance.md, cameras); within one window it counts exactly.

Only a token that was presented and did not match counts as a failure: a request with
no token at all guesses nothing. Once an address has used its failures, every request
from it that presents a token is refused until the window frees up, valid token or not,
so a guesser cannot tell from the answer when a guess was right.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.strategies import SlidingWindowCounterRateLimiter

from api.errors import ApiProblem
from api.limit_storage import SweptMemoryStorage
from config.settings import Settings


@dataclass
class RateLimits:
    auth_failures: RateLimitItem
    token_requests: RateLimitItem
    limiter: SlidingWindowCounterRateLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            auth_failures=parse(settings.api_auth_failures),
            token_requests=parse(settings.api_token_requests),
            limiter=SlidingWindowCounterRateLimiter(SweptMemoryStorage()),
        )

    def _refuse(self, code: str, item: RateLimitItem, *identifiers: str) -> ApiProblem:
        reset = self.limiter.get_window_stats(item, *identifiers).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        return ApiProblem(429, code, headers={"Retry-After": str(retry)}, retry_after=retry)

    def check_address(self, address: str) -> None:
        """Refuse an address that has used up its failed authentications."""
        if not self.limiter.test(self.auth_failures, "auth", address):
            raise self._refuse("auth_rate_limited", self.auth_failures, "auth", address)

    def failed(self, address: str) -> None:
        self.limiter.hit(self.auth_failures, "auth", address)

    def request(self, token: str) -> None:
        """Count a request of a valid token; refuse it past the token's rate."""
        # The limiter's keys stay in memory: keep a digest there, not the token.
        key = hashlib.sha256(token.encode()).hexdigest()[:32]
        if not self.limiter.hit(self.token_requests, "token", key):
            raise self._refuse("token_rate_limited", self.token_requests, "token", key)
