"""A frozen market snapshot as compact bytes and back, exactly (what a what-if workspace stores, issue #12 §2).

Every decimal is written as its exact string; the JSON is zlib-compressed (a 1,000-portfolio snapshot is read and
written whole, never queried, so one compressed blob is both the smallest and the fastest form to store).
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from decimal import Decimal, InvalidOperation

from data.services.types import SecurityInfo
from data.snapshot import MarketSnapshot
from engine.errors import ErrorInfo, ExternalDataError
from engine.models import Holding, InvestmentModel, PortfolioHoldings

FORMAT = 1


def encode_snapshot(snapshot: MarketSnapshot) -> bytes:
    """The snapshot as zlib-compressed JSON (exact decimals as strings)."""
    body = {
        "format": FORMAT,
        "model": snapshot.model.model_dump(mode="json"),
        "takenAt": snapshot.taken_at.isoformat(),
        "portfolioIds": list(snapshot.portfolio_ids),
        "portfolios": [
            [p.portfolio_id, p.name, str(p.cash), [[h.security_id, str(h.quantity)] for h in p.holdings]]
            for p in snapshot.portfolios
        ],
        "prices": {sid: str(price) for sid, price in snapshot.prices.items()},
        "securities": {sid: [s.ticker, s.description, s.security_type] for sid, s in snapshot.securities.items()},
        "failures": {pid: [e.code, e.message, e.details] for pid, e in snapshot.failures.items()},
        "requests": snapshot.requests,
        "requestsByService": snapshot.requests_by_service,
        "warnings": snapshot.warnings,
        "elapsed": snapshot.elapsed,
    }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)
    return zlib.compress(text.encode("utf-8"), 6)


def decode_snapshot(blob: bytes) -> MarketSnapshot:
    """The snapshot :func:`encode_snapshot` wrote; a damaged or foreign blob is an ``ExternalDataError``."""
    try:
        body = json.loads(zlib.decompress(blob).decode("utf-8"))
        if body.get("format") != FORMAT:
            raise ValueError(f"unknown snapshot format {body.get('format')!r}")
        return MarketSnapshot(
            model=InvestmentModel.model_validate(body["model"]),
            taken_at=dt.datetime.fromisoformat(body["takenAt"]),
            portfolio_ids=tuple(body["portfolioIds"]),
            portfolios=[
                PortfolioHoldings(
                    portfolio_id=pid,
                    name=name,
                    cash=Decimal(cash),
                    holdings=tuple(Holding(security_id=sid, quantity=Decimal(q)) for sid, q in holdings),
                )
                for pid, name, cash, holdings in body["portfolios"]
            ],
            prices={sid: Decimal(price) for sid, price in body["prices"].items()},
            securities={
                sid: SecurityInfo(sid, ticker, description, kind)
                for sid, (ticker, description, kind) in body["securities"].items()
            },
            failures={
                pid: ErrorInfo(code, message, details) for pid, (code, message, details) in body["failures"].items()
            },
            requests=int(body["requests"]),
            requests_by_service=dict(body["requestsByService"]),
            warnings=list(body["warnings"]),
            elapsed=float(body["elapsed"]),
        )
    except (zlib.error, UnicodeDecodeError, ValueError, KeyError, TypeError, InvalidOperation) as exc:
        raise ExternalDataError(f"a stored market snapshot cannot be read: {exc}", {"field": "snapshot"}) from exc


__all__ = ["decode_snapshot", "encode_snapshot"]
