"""Fault decisions (seeded, reproducible under concurrency) and the call log tests assert on."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field

from data.simulator.config import Fault


@dataclass
class Call:
    """One request the simulator received (admin paths excluded); ``status`` is set when the answer starts."""

    seq: int
    service: str
    endpoint: str
    method: str
    path: str
    key: str | None
    status: int | None  # None: no answer (dropped or timed out)
    fault: str | None
    at: float

    def to_dict(self) -> dict:
        return asdict(self)


class CallLog:
    """Thread-safe, bounded log of answered requests."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self._calls: deque[Call] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._seq = 0

    def record(
        self,
        service: str,
        endpoint: str,
        method: str,
        path: str,
        key: str | None,
        status: int | None,
        fault: str | None,
    ) -> Call:
        """Log a request as it arrives; the caller sets ``status`` on the returned entry when it answers."""
        with self._lock:
            self._seq += 1
            call = Call(self._seq, service, endpoint, method, path, key, status, fault, time.time())
            self._calls.append(call)
        return call

    def calls(self, service: str | None = None, endpoint: str | None = None) -> list[Call]:
        with self._lock:
            snapshot = list(self._calls)
        return [
            c
            for c in snapshot
            if (service is None or c.service == service) and (endpoint is None or c.endpoint == endpoint)
        ]

    def count(self, service: str | None = None, endpoint: str | None = None) -> int:
        return len(self.calls(service, endpoint))

    def keys(self, service: str, endpoint: str) -> Counter[str]:
        """How many times each key (portfolio id, ticker ...) was requested on one endpoint."""
        return Counter(c.key for c in self.calls(service, endpoint) if c.key is not None)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


@dataclass
class Decision:
    """What the faults say about one request."""

    delay: float = 0.0
    action: Fault | None = None  # error, timeout, drop, not_found, empty_500: replaces the normal answer
    malformed: Fault | None = None
    item_failures: list[Fault] = field(default_factory=list)

    @property
    def label(self) -> str | None:
        kinds = [f.kind for f in (self.action, self.malformed) if f is not None]
        kinds += [f.kind for f in self.item_failures]
        if self.delay and not kinds:
            kinds.append("latency")
        return ",".join(kinds) or None


class FaultInjector:
    """Holds the active faults; ``decide`` draws from an RNG seeded by (seed, rule, service, path, n-th match), so the
    same sequence of requests per path gets the same faults whatever the thread interleaving."""

    def __init__(self, faults: list[Fault] | None = None, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self._faults: list[Fault] = []
        self._fired: Counter[int] = Counter()
        self._seen: Counter[tuple[int, str]] = Counter()
        self._streak: Counter[tuple[int, str]] = Counter()
        self.set(faults or [], seed)

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def set(self, faults: list[Fault], seed: int | None = None) -> None:
        """Replace every fault (and restart their counters)."""
        with self._lock:
            self._faults = list(faults)
            self._fired.clear()
            self._seen.clear()
            self._streak.clear()
            if seed is not None:
                self.seed = seed

    def add(self, faults: list[Fault]) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        self.set([])

    def decide(self, service: str, endpoint: str, path: str, key: str | None) -> Decision:
        decision = Decision()
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.service not in ("*", service) or fault.endpoint not in ("*", endpoint):
                    continue
                if fault.keys is not None and key not in fault.keys:
                    continue
                if fault.count is not None and self._fired[index] >= fault.count:
                    continue
                slot = (index, path)
                self._seen[slot] += 1
                rng = random.Random(f"{self.seed}|{index}|{service}|{path}|{self._seen[slot]}")
                if rng.random() >= fault.rate or (
                    fault.max_consecutive is not None and self._streak[slot] >= fault.max_consecutive
                ):
                    self._streak[slot] = 0
                    continue
                self._streak[slot] += 1
                if fault.kind == "latency":
                    decision.delay += fault.delay + rng.random() * fault.jitter
                elif fault.kind == "malformed":
                    if decision.malformed is not None:
                        continue
                    decision.malformed = fault
                elif fault.kind == "order_item_failure":
                    decision.item_failures.append(fault)
                else:
                    if decision.action is not None:
                        continue
                    decision.action = fault
                self._fired[index] += 1
        return decision
