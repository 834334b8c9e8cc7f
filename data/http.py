"""HTTP resilience helpers shared by the service clients: circuit breaker, locked TTL cache, request counting.

Retries themselves use tenacity in ``data.services.base``; this module holds the state that must survive across
calls (one breaker and one cache set per client object, and the client objects live once per process).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from cachetools import TTLCache

BreakerState = Literal["closed", "open", "half_open"]


class BreakerOpen(Exception):
    """Raised by ``CircuitBreaker.before_call`` while the breaker is open (no request is made)."""

    def __init__(self, name: str, failures: int, retry_in: float) -> None:
        super().__init__(f"{name}: circuit open after {failures} consecutive failures; next try in {retry_in:.1f} s")
        self.name = name
        self.failures = failures
        self.retry_in = retry_in


class CircuitBreaker:
    """Consecutive-failure circuit breaker, thread-safe.

    ``closed``: calls pass; ``failure_threshold`` consecutive failed attempts open it. ``open``: calls fail at once
    with ``BreakerOpen`` until ``reset_timeout`` has passed. ``half_open``: exactly one trial call passes; its success
    closes the breaker, its failure re-opens it for another ``reset_timeout``.
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        """Current state; an expired ``open`` reads as ``half_open``."""
        with self._lock:
            if self._state == "open" and self._clock() - self._opened_at >= self.reset_timeout:
                return "half_open"
            return self._state

    @property
    def failures(self) -> int:
        with self._lock:
            return self._failures

    def before_call(self) -> None:
        """Let a call through, or raise ``BreakerOpen``."""
        with self._lock:
            if self._state == "closed":
                return
            now = self._clock()
            if self._state == "open":
                remaining = self.reset_timeout - (now - self._opened_at)
                if remaining > 0:
                    raise BreakerOpen(self.name, self._failures, remaining)
                self._state = "half_open"
                self._trial_in_flight = False
            # half_open: a single trial call at a time
            if self._trial_in_flight:
                raise BreakerOpen(self.name, self._failures, 0.0)
            self._trial_in_flight = True

    def record_success(self) -> None:
        with self._lock:
            self._state = "closed"
            self._failures = 0
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_in_flight = False
            if self._state == "half_open" or self._failures >= self.failure_threshold:
                self._state = "open"
                self._opened_at = self._clock()

    def reset(self) -> None:
        """Back to ``closed`` with no failures (tests, or an operator's "retry now")."""
        self.record_success()


class LockedTTLCache:
    """A ``cachetools.TTLCache`` behind a lock: safe to share between the worker threads of a run."""

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float] = time.monotonic) -> None:
        self._cache: TTLCache[Hashable, Any] = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            return self._cache.get(key, default)

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        """The cached values of ``keys`` (missing and expired keys are absent)."""
        out: dict[Hashable, Any] = {}
        with self._lock:
            for key in keys:
                value = self._cache.get(key, _MISSING)
                if value is not _MISSING:
                    out[key] = value
        return out

    def set(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._cache[key] = value

    def set_many(self, items: Iterable[tuple[Hashable, Any]]) -> None:
        with self._lock:
            for key, value in items:
                self._cache[key] = value

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def __len__(self) -> int:
        with self._lock:
            self._cache.expire()
            return len(self._cache)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._cache


_MISSING = object()


@dataclass
class RequestCount:
    """HTTP requests sent while a ``count_requests()`` block is active (retries included), per service."""

    by_service: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, service: str) -> None:
        with self._lock:
            self.by_service[service] = self.by_service.get(service, 0) + 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_service.values())


_current_count: contextvars.ContextVar[RequestCount | None] = contextvars.ContextVar("request_count", default=None)


@contextlib.contextmanager
def count_requests() -> Iterator[RequestCount]:
    """Count the requests the clients send in this context (and in worker tasks run with a copy of it)."""
    counter = RequestCount()
    token = _current_count.set(counter)
    try:
        yield counter
    finally:
        _current_count.reset(token)


_inflight: contextvars.ContextVar[threading.BoundedSemaphore | None] = contextvars.ContextVar("inflight", default=None)


@contextlib.contextmanager
def limit_inflight(limit: int) -> Iterator[None]:
    """Allow at most ``limit`` requests on the wire at once from this context (and worker tasks copying it).

    Only the request itself holds a slot, not a retry's backoff sleep: a run can keep more worker threads than
    ``limit`` so that portfolios waiting to retry do not starve the others.
    """
    token = _inflight.set(threading.BoundedSemaphore(limit))
    try:
        yield
    finally:
        _inflight.reset(token)


@dataclass(frozen=True)
class RetryPolicy:
    """How a call retries in a ``retry_policy`` block: ``retries`` after the first attempt, ``backoff`` seconds
    before each (a constant, not the exponential default of ``Settings``)."""

    retries: int
    backoff: float


# A firm-wide triage scan is a quick look: a failing call is retried once at once and the failure shown with a
# "retry" per model, instead of waiting 1 + 2 + 4 s of backoff per failing portfolio (issue 14 item 10).
QUICK_LOOK = RetryPolicy(retries=1, backoff=0.0)
_retry_policy: contextvars.ContextVar[RetryPolicy | None] = contextvars.ContextVar("retry_policy", default=None)


@contextlib.contextmanager
def retry_policy(policy: RetryPolicy) -> Iterator[None]:
    """Calls made in this context (and in worker tasks copying it) retry per ``policy`` instead of the settings."""
    token = _retry_policy.set(policy)
    try:
        yield
    finally:
        _retry_policy.reset(token)


def current_retry_policy() -> RetryPolicy | None:
    """The policy of the enclosing ``retry_policy`` block (None: the settings' retries and backoff)."""
    return _retry_policy.get()


def inflight_slot() -> contextlib.AbstractContextManager:
    """The current in-flight limit's slot (a no-op outside ``limit_inflight``)."""
    semaphore = _inflight.get()
    return semaphore if semaphore is not None else contextlib.nullcontext()


def note_request(service: str) -> None:
    """Called by the clients for every request they send."""
    counter = _current_count.get()
    if counter is not None:
        counter.add(service)


def map_bounded[T, R](
    fn: Callable[[T], R],
    items: Iterable[T],
    max_concurrency: int,
    on_done: Callable[[T, R | BaseException], None] | None = None,
    stop: Callable[[], bool] | None = None,
    catch: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> dict[T, R | BaseException]:
    """Run ``fn`` over ``items`` on at most ``max_concurrency`` threads; return ``{item: result}`` in input order.

    Exceptions of a type in ``catch`` become the item's result; any other exception cancels the pending work and is
    re-raised (fail-fast). ``on_done`` runs on the calling thread after each item (progress reporting); ``stop``
    is polled between items and stops submitting new work when it returns True (the result then lacks those items).
    Worker tasks run in a copy of the caller's context, so ``count_requests()`` sees their requests.
    """
    import concurrent.futures as cf

    todo = list(dict.fromkeys(items))
    results: dict[T, R | BaseException] = {}
    if not todo:
        return results
    halted = threading.Event()

    def task(item: T) -> R:
        if halted.is_set():
            raise _Skipped
        return fn(item)

    workers = max(1, min(max_concurrency, len(todo)))
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="globeco-io")
    try:
        futures = {pool.submit(contextvars.copy_context().run, task, item): item for item in todo}
        for future in cf.as_completed(futures):
            item = futures[future]
            try:
                outcome: R | BaseException = future.result()
            except _Skipped:
                continue
            except catch as exc:  # per-item failure is data, kept with the item
                outcome = exc
            except BaseException:
                halted.set()
                raise
            results[item] = outcome
            if on_done is not None:
                on_done(item, outcome)
            if stop is not None and stop():
                halted.set()
                break
    finally:
        # Never wait for in-flight calls here: on fail-fast or cancel the caller must get control back at once.
        halted.set()
        pool.shutdown(wait=False, cancel_futures=True)
    return {item: results[item] for item in todo if item in results}


class _Skipped(Exception):
    """A task that started after the run was halted."""
