"""``ServiceClient``: one pooled ``httpx.Client`` per GlobeCo service with retries, a circuit breaker and typed errors.

Retry rules (services.md §2): per-call timeout, 1 attempt + ``http_retries`` retries with exponential backoff
(1 s, 2 s, 4 s by default) on 5xx, connect errors, dropped connections and timeouts; never on 4xx. The breaker
counts consecutive failed attempts of this service and survives across calls because the client object lives once
per process. Raw httpx exceptions never leave this module: callers get ``ServiceUnavailable`` or a response.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from data.http import BreakerOpen, CircuitBreaker, current_retry_policy, inflight_slot, note_request
from data.services.types import ServiceHealth
from data.settings import Settings
from engine.errors import ExternalDataError, ServiceUnavailable

RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# Errors after which a request surely never reached the application: safe to retry even a non-idempotent POST.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ServerError(Exception):
    """An HTTP 5xx answer, raised inside an attempt so tenacity can retry it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after_seconds(response)


class CallFailed(Exception):
    """The final failure of a call after its retries: ``cause`` is the last error, ``attempts`` how many were made."""

    def __init__(self, cause: BaseException, attempts: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.attempts = attempts

    @property
    def response(self) -> httpx.Response | None:
        return self.cause.response if isinstance(self.cause, ServerError) else None


_JSON = {"content-type": "application/json"}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds or an HTTP date), or None."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def idempotent_retry(exc: BaseException) -> bool:
    """Retry 5xx, timeouts, connect errors and dropped connections (GET and other idempotent calls)."""
    return isinstance(exc, (ServerError, *RETRYABLE_TRANSPORT))


def wire_id(value: str) -> str:
    """The id as the services store it: a 24-hex id in lower case (the real services accept ``6B15…`` too and
    answer for ``6b15…``; the simulator answers 404). The client keeps the caller's spelling in what it returns."""
    return value.lower() if isinstance(value, str) and len(value) == 24 and _HEX.fullmatch(value) else value


_HEX = re.compile(r"[0-9A-Fa-f]{24}")


def segment(value: str) -> str:
    """A path segment with every reserved character escaped (``/`` included): user text never changes the path."""
    return quote(str(value), safe="")


class ServiceClient:
    """Base of the five clients: owns the httpx client, the breaker and the retry policy of one service."""

    name: ClassVar[str] = "service"
    label: ClassVar[str] = "service"
    health_path: ClassVar[str] = "/health"

    def __init__(
        self,
        base_url: str,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        embedded: bool = False,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url
        self.target = "embedded simulator" if embedded else base_url
        self.settings = settings
        self._retries = settings.http_retries
        self._backoff = settings.http_backoff
        self._backoff_max = settings.http_backoff_max
        self._timeout = settings.http_timeout
        self._sleep = sleep
        self.breaker = CircuitBreaker(self.name, settings.breaker_failure_threshold, settings.breaker_reset_timeout)
        limits = httpx.Limits(
            max_connections=settings.http_max_connections, max_keepalive_connections=settings.http_max_connections
        )
        self._client = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=settings.http_timeout,
            limits=limits,
            headers=dict(headers or {}),
            event_hooks={"request": [self._on_request]},
        )

    def _on_request(self, request: httpx.Request) -> None:
        note_request(self.name)

    # --- calls -------------------------------------------------------------------------------------------------
    def _wait(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return min(float(after), self.settings.order_retry_after_max)
        policy = current_retry_policy()
        if policy is not None:
            return policy.backoff
        return min(self._backoff * 2 ** (retry_state.attempt_number - 1), self._backoff_max)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        retry_if: Callable[[BaseException], bool] = idempotent_retry,
        coherent_500: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """One logical call with retries; returns any non-5xx response, else raises ``CallFailed``.

        ``coherent_500`` marks a 5xx body that is the service's own deliberate answer (accounting's
        500-for-no-balances): it is retried like any 5xx but does not count against the breaker.
        """
        attempts = 0

        def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            self.breaker.before_call()
            try:
                with inflight_slot():
                    response = self._client.request(
                        method, path, params=params, json=json, content=content, headers=_JSON if content else None
                    )
            except RETRYABLE_TRANSPORT:
                self.breaker.record_failure()
                raise
            if response.status_code >= 500:
                if coherent_500 is not None and coherent_500(response):
                    self.breaker.record_success()
                else:
                    self.breaker.record_failure()
                raise ServerError(response)
            self.breaker.record_success()
            return response

        policy = current_retry_policy()
        retrying = Retrying(
            stop=stop_after_attempt((self._retries if policy is None else policy.retries) + 1),
            wait=self._wait,
            retry=retry_if_exception(retry_if),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except (ServerError, BreakerOpen, httpx.HTTPError) as exc:
            raise CallFailed(exc, attempts) from exc

    def _get(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        coherent_500: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """GET with the idempotent retry rule; a persistent failure becomes ``ServiceUnavailable``.

        A persistent ``coherent_500`` answer is returned to the caller instead (it is data, not an outage).
        """
        try:
            return self._call("GET", path, params=params, coherent_500=coherent_500)
        except CallFailed as failed:
            response = failed.response
            if response is not None and coherent_500 is not None and coherent_500(response):
                return response
            raise self.unavailable(failed) from None

    def _ok(self, response: httpx.Response, what: str, **details: Any) -> httpx.Response:
        """``response`` if it is a 200; any other answer the caller did not handle is never read as data:
        ``ExternalDataError`` "<service> answered HTTP <status> for <what>" with ``details``."""
        if response.status_code != 200:
            raise ExternalDataError(
                f"{self.label} answered HTTP {response.status_code} for {what}",
                {"service": self.name, **details, "status": response.status_code},
            )
        return response

    def unavailable(self, failed: CallFailed) -> ServiceUnavailable:
        """The typed error for a call that failed after its retries, naming the service."""
        cause = failed.cause
        details: dict[str, Any] = {"service": self.name, "url": self.target, "attempts": failed.attempts}
        if isinstance(cause, BreakerOpen):
            details["breaker"] = "open"
            message = (
                f"{self.label} is unavailable: {cause.failures} consecutive failures opened the circuit breaker; "
                f"next try in {cause.retry_in:.0f} s"
            )
        elif isinstance(cause, ServerError):
            details["status"] = cause.response.status_code
            message = f"{self.label} answered HTTP {cause.response.status_code} ({failed.attempts} attempts)"
        elif isinstance(cause, httpx.TimeoutException):
            message = f"{self.label} did not answer within {self._timeout:g} s ({failed.attempts} attempts)"
        elif isinstance(cause, httpx.ConnectError):
            message = f"cannot connect to the {self.label} at {self.target} ({failed.attempts} attempts)"
        else:
            message = f"{self.label} connection failed: {type(cause).__name__} ({failed.attempts} attempts)"
        details["reason"] = type(cause).__name__
        return ServiceUnavailable(message, details)

    # --- lifecycle -------------------------------------------------------------------------------------------------
    def health(self) -> ServiceHealth:
        """One probe of the service's health path: no retries, short timeout, breaker untouched."""
        start = time.perf_counter()
        try:
            response = self._client.get(self.health_path, timeout=self.settings.health_timeout)
        except httpx.HTTPError as exc:
            return ServiceHealth(
                self.name, False, f"not reachable ({type(exc).__name__})", self.target, None, self.breaker.state
            )
        ms = (time.perf_counter() - start) * 1000
        ok = 200 <= response.status_code < 300
        detail = f"HTTP {response.status_code} in {ms:.0f} ms"
        if self.breaker.state != "closed":
            detail += f"; circuit breaker {self.breaker.state.replace('_', '-')}"
        return ServiceHealth(self.name, ok, detail, self.target, ms, self.breaker.state)

    def close(self) -> None:
        self._client.close()
