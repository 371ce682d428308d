"""Login throttling: per account (PostgreSQL columns) and per client IP (a Redis counter).

* Per account: ``users.failed_logins`` counts consecutive failures; reaching
  ``settings.login_max_failures`` sets ``users.locked_until = now + login_lockout_s`` and resets
  the counter. A success resets both. Consecutive, not windowed: the schema keeps no time of the
  first failure, and an attacker gains nothing from a window an honest user would notice.
* Per IP: ``INCR pyd:login:ip:<ip>`` on each failure, with the key expiring ``login_lockout_s``
  after the *first* failure of the window. Once ``IP_FAILURE_FACTOR * login_max_failures``
  failures are counted the IP is refused until the key expires. It catches password spraying
  (one guess against many accounts), which per-account lockout never sees.

The login page answers every refusal with the same message, so neither mechanism tells a client
whether a username exists, a password was right or which limit it hit (OWASP ASVS 2.2.1).

If Redis is unreachable the IP limit is skipped (logged): account lockout still applies, and
refusing every login because the rate limiter is down would turn a Redis outage into an outage
of the whole suite.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import redis

logger = logging.getLogger(__name__)

IP_KEY = "pyd:login:ip:{ip}"
IP_FAILURE_FACTOR = 4

# INCR and start the window on the first failure, atomically. (EXPIRE ... NX would do, but it
# needs Redis 7 and the embedded redis-server is 6.2.) A key left without a TTL gets one too.
_INCR_WITH_WINDOW = """
local n = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


@dataclass(frozen=True)
class AccountState:
    failed_logins: int
    locked_until: dt.datetime | None


def is_locked(locked_until: dt.datetime | None, now: dt.datetime) -> bool:
    return locked_until is not None and locked_until > now


def after_failure(state: AccountState, now: dt.datetime, max_failures: int, lockout_s: int) -> tuple[AccountState, bool]:
    """The account's state after one more failed password; the bool says "this locked it"."""
    failures = state.failed_logins + 1
    if failures >= max_failures:
        return AccountState(0, now + dt.timedelta(seconds=lockout_s)), True
    return AccountState(failures, state.locked_until), False


class IpThrottle:
    def __init__(self, client: redis.Redis, *, max_failures: int, window_s: int) -> None:
        self.client = client
        self.max_failures = max_failures
        self.window_s = window_s

    @classmethod
    def for_settings(cls, client: redis.Redis, max_failures: int, lockout_s: int) -> IpThrottle:
        return cls(client, max_failures=IP_FAILURE_FACTOR * max_failures, window_s=lockout_s)

    def blocked(self, ip: str) -> bool:
        try:
            raw = self.client.get(IP_KEY.format(ip=ip))
        except redis.RedisError as exc:
            logger.warning("login IP throttle unavailable (Redis: %s); account lockout still applies", exc)
            return False
        try:
            return raw is not None and int(raw) >= self.max_failures
        except ValueError:
            return False

    def record_failure(self, ip: str) -> int:
        """Count one failure; returns the count in the current window (0 if Redis is down)."""
        key = IP_KEY.format(ip=ip)
        try:
            count = self.client.eval(_INCR_WITH_WINDOW, 1, key, self.window_s)
        except redis.RedisError as exc:
            logger.warning("login IP throttle unavailable (Redis: %s)", exc)
            return 0
        return int(count)
