"""The token bucket that paces a dispatcher's sends, one per gateway (SMS base URL, LED / speaker channel)."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """A thread-safe token bucket; ``acquire`` blocks until the caller's token is due.

    Callers reserve tokens in arrival order (the balance may go negative), so N blocked threads are
    released ``1 / rate`` apart. ``burst``: tokens that may be spent at once (default a tenth of a
    second's worth, at least one).
    """

    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate = rate_per_s
        self.capacity = burst if burst is not None else max(1.0, rate_per_s / 10)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Take a token, waiting as needed; False if ``stop`` was set while waiting."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate) - 1.0
            self._stamp = now
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait <= 0:
            return True
        if stop is None:
            time.sleep(wait)
            return True
        return not stop.wait(wait)
