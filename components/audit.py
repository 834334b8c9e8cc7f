"""Structured JSON audit log of what users did: what-if runs, saves, deletes, model changes, order submissions.

One JSON object per line on stderr (the Streamlit server log), logger ``globeco.audit``, formatted by
``python-json-logger``: ``timestamp`` (ISO 8601, UTC), ``level``, ``event`` (``what_if_run``, ``run_saved``,
``run_deleted``, ``model_saved``, ``model_deleted``, ``orders_submitted``), ``user``, ``outcome`` (``ok`` /
``refused`` / ``failed``), ``error_code`` (the typed error's code), ``ms`` (elapsed) and the event's ids and counts
(``run_id``, ``rebalance_id``, ``model_id``, ``portfolios``, ``orders`` …). User text (model and scenario names) is
a JSON string value, so it can never forge a line. README "Audit log" shows how to answer "what happened at 10:42".
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

from engine.errors import EngineError, Forbidden

LOGGER_NAME = "globeco.audit"
log = logging.getLogger(LOGGER_NAME)
_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when the line is written (servers and test runners replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _configure() -> None:
    """Attach the JSON handler once per process (module reloads by Streamlit must not add a second one)."""
    if any(getattr(h, "globeco_audit", False) for h in log.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(
        JsonFormatter("%(levelname)s %(message)s", rename_fields={"levelname": "level"}, timestamp=True)
    )
    handler.globeco_audit = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


_configure()


def event(name: str, user: str | None, outcome: str = "ok", **fields: object) -> None:
    """Write one audit line: ``event`` ``name`` by ``user`` with ``fields`` (ids, counts, timings, error code)."""
    level = logging.INFO if outcome == "ok" else logging.WARNING
    # a field named like a LogRecord attribute ("created", "name" ...) would make logging raise: suffix it
    safe = {f"{k}_" if k in _RESERVED else k: v for k, v in fields.items()}
    log.log(level, name, extra={"event": name, "user": user, "outcome": outcome, **safe})


@contextmanager
def timed(name: str, user: str | None, **fields: object) -> Iterator[dict[str, object]]:
    """Log ``name`` once the block ends, with its elapsed ``ms``; the block may add fields to the yielded dict.

    An exception is logged with its ``error_code`` (``refused`` for ``Forbidden``, else ``failed``) and re-raised.
    """
    extra: dict[str, object] = dict(fields)
    start = time.perf_counter()
    try:
        yield extra
    except Exception as err:
        code = err.code if isinstance(err, EngineError) else "UNEXPECTED"
        outcome = "refused" if isinstance(err, Forbidden) else "failed"
        event(name, user, outcome, error_code=code, ms=_ms(start), **extra)
        raise
    event(name, user, extra.pop("outcome", "ok"), ms=_ms(start), **extra)  # type: ignore[arg-type]


def _ms(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


__all__ = ["LOGGER_NAME", "event", "timed"]
