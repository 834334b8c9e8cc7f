"""Market snapshot of a model run: every summary once, one price per security, and what failed (product-spec 2.5).

Call plan (services.md §2): one accounting summary per portfolio with bounded concurrency; the securities of all
portfolios and the model deduplicated, resolved from the cache, then by the bulk ``securities``/``prices`` endpoints
when many are missing (else per item); portfolio names in parallel (soft). A required service still failing after
retries raises ``ServiceUnavailable`` naming it and cancels the rest (fail-fast). Data problems of one portfolio
(no balances, unknown security, missing or bad price, bad decimal) fail only that portfolio.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from data.http import count_requests, limit_inflight, map_bounded
from data.services.facade import GlobeCoServices
from data.services.portfolio import NameLookup
from data.services.types import SecurityInfo
from engine.errors import Cancelled, EngineError, ErrorInfo, ExternalDataError
from engine.models import InvestmentModel, PortfolioHoldings
from engine.validation import is_object_id

Progress = Callable[[int, int], None]
RETRY_WORKERS_FACTOR = 4  # worker threads per in-flight request slot


@dataclass(frozen=True)
class MarketSnapshot:
    """Engine inputs for one run plus the report of what failed.

    ``portfolios`` holds the usable ones (names filled, input order); ``failures`` maps every other requested
    portfolio to its reason; ``prices`` is the single price per security id used for the whole run; ``requests``
    counts the HTTP requests made (retries included), also per service in ``requests_by_service``.
    """

    model: InvestmentModel
    taken_at: dt.datetime
    portfolio_ids: tuple[str, ...]
    portfolios: list[PortfolioHoldings]
    prices: dict[str, Decimal]
    securities: dict[str, SecurityInfo]
    failures: dict[str, ErrorInfo]
    requests: int
    requests_by_service: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def holdings(self, portfolio_id: str) -> PortfolioHoldings | None:
        """The usable holdings of ``portfolio_id`` (None when it failed or was not requested)."""
        for p in self.portfolios:
            if p.portfolio_id == portfolio_id:
                return p
        return None

    def ticker(self, security_id: str) -> str | None:
        info = self.securities.get(security_id)
        return info.ticker if info else None


def _cancel_check(cancel: Any) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return lambda: bool(cancel())


def build_market_snapshot(
    services: GlobeCoServices,
    model: InvestmentModel,
    portfolio_ids: Sequence[str] | None = None,
    progress: Progress | None = None,
    cancel: Any = None,
    max_concurrency: int | None = None,
) -> MarketSnapshot:
    """Fetch what a run of ``model`` needs for ``portfolio_ids`` (default: the model's portfolios).

    ``progress(done, total)`` is called on the calling thread after each summary. ``cancel`` (a callable returning
    True, or an Event) stops the run between summaries with ``engine.errors.Cancelled``.
    Raises ``ServiceUnavailable`` when accounting, security or pricing is down after retries, and
    ``ExternalDataError`` ("pricing returned no usable price for 3 of 30 model securities: ...") when a security of
    the model has no usable price, which every portfolio would need.
    """
    started = time.perf_counter()
    taken_at = dt.datetime.now(dt.UTC)
    ids = list(dict.fromkeys(portfolio_ids if portfolio_ids is not None else model.portfolios))
    settings = services.settings
    concurrency = max_concurrency or settings.snapshot_max_concurrency
    bulk = settings.bulk_threshold
    cancelled = _cancel_check(cancel)
    total = len(ids)
    done = 0

    def on_summary(_pid: str, _result: object) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    with count_requests() as counter:
        names_pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="globeco-names")
        names_future = names_pool.submit(
            contextvars.copy_context().run, services.portfolio.names_for, ids, concurrency, bulk
        )
        names_pool.shutdown(wait=False)
        if cancelled():
            raise Cancelled("the market snapshot was cancelled before it started")
        # At most ``concurrency`` summaries on the wire; more threads than that, so a portfolio sleeping before a
        # retry (1, 2, 4 s) does not hold a slot the others could use.
        with limit_inflight(concurrency):
            summaries = map_bounded(
                services.accounting.summary,
                ids,
                min(concurrency * RETRY_WORKERS_FACTOR, 128),
                on_done=on_summary,
                stop=cancelled,
                catch=ExternalDataError,
            )
        if cancelled() or len(summaries) < total:
            raise Cancelled(f"the market snapshot was cancelled after {len(summaries):,} of {total:,} portfolios")

        failures: dict[str, EngineError] = {}
        usable: dict[str, PortfolioHoldings] = {}
        for pid, result in summaries.items():
            if isinstance(result, PortfolioHoldings):
                usable[pid] = result
            else:
                failures[pid] = result  # type: ignore[assignment]

        model_ids = [p.security_id for p in model.positions]
        needed = list(dict.fromkeys([*model_ids, *(h.security_id for p in usable.values() for h in p.holdings)]))
        if not usable:
            needed = []
        securities = services.security.resolve(needed, concurrency, bulk)
        tickers = {sid: info.ticker for sid, info in securities.found.items()}
        pricing = services.pricing.prices_for(tickers.values(), concurrency, bulk)
        prices = {sid: pricing.prices[t] for sid, t in tickers.items() if t in pricing.prices}

        _fail_on_unpriced_model(model_ids, tickers, prices, pricing.problems)
        problems: dict[str, str] = {}
        for sid in needed:
            if sid in securities.problems:
                problems[sid] = securities.problems[sid]
            elif sid not in tickers:
                why = "" if is_object_id(sid) else " (not a 24-hex id, which the security service cannot know)"
                problems[sid] = f"unknown security {sid}{why}"
            elif sid not in prices:
                ticker = tickers[sid]
                problems[sid] = f"no price for {ticker} (security {sid}): {pricing.problems.get(ticker, 'missing')}"
        model_set = set(model_ids)
        for pid in list(usable):
            holding_ids = [h.security_id for h in usable[pid].holdings]
            bad = [sid for sid in dict.fromkeys([*model_ids, *holding_ids]) if sid in problems]
            if bad:
                failures[pid] = _data_error(pid, bad, problems, tickers, model_set)
                del usable[pid]

        try:
            # Names are soft: once everything else is in, wait at most one more call timeout for them.
            names: NameLookup = names_future.result(timeout=settings.http_timeout)
        except cf.TimeoutError:
            names = NameLookup(
                names=dict.fromkeys(ids), warnings=["portfolio names unavailable: the portfolio service is slow"]
            )
    warnings = [*names.warnings, *securities.warnings, *pricing.warnings]
    portfolios = [usable[pid].model_copy(update={"name": names.names.get(pid)}) for pid in ids if pid in usable]
    failure_info = {}
    for pid in ids:
        if pid in failures:
            info = ErrorInfo.of(failures[pid])
            info.details.setdefault("portfolio_id", pid)
            failure_info[pid] = info
    return MarketSnapshot(
        model=model,
        taken_at=taken_at,
        portfolio_ids=tuple(ids),
        portfolios=portfolios,
        prices=prices,
        securities={sid: info for sid, info in securities.found.items()},
        failures=failure_info,
        requests=counter.total,
        requests_by_service=dict(counter.by_service),
        warnings=warnings,
        elapsed=time.perf_counter() - started,
    )


def _fail_on_unpriced_model(
    model_ids: list[str], tickers: dict[str, str], prices: dict[str, Decimal], why: dict[str, str]
) -> None:
    """Fail the run at once when pricing has no usable price for a known model security.

    Every portfolio needs every model price (the engine fails each one without it), so one run-level error naming
    the securities replaces the same failure repeated for every portfolio. Holdings outside the model still fail
    only the portfolios that hold them; unknown model securities stay per-portfolio failures naming the security.
    """
    unpriced = [sid for sid in dict.fromkeys(model_ids) if sid in tickers and sid not in prices]
    if not unpriced:
        return
    total = len(set(model_ids))
    listed = "; ".join(f"{tickers[s]} ({why.get(tickers[s], 'no price')})" for s in unpriced[:3])
    more = f"; and {len(unpriced) - 3} more" if len(unpriced) > 3 else ""
    raise ExternalDataError(
        f"pricing returned no usable price for {len(unpriced)} of {total} model securities: {listed}{more}",
        {
            "service": "pricing",
            "unpriced": len(unpriced),
            "model_securities": total,
            "securities": [
                {"security_id": s, "ticker": tickers[s], "problem": why.get(tickers[s], "no price")} for s in unpriced
            ],
        },
    )


def _data_error(
    pid: str, bad: list[str], problems: dict[str, str], tickers: dict[str, str], model_ids: set[str]
) -> ExternalDataError:
    """The per-portfolio error naming the first bad security (ticker and id) and counting the others."""
    first = bad[0]
    where = "model position" if first in model_ids else "holding"
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return ExternalDataError(
        f"portfolio {pid}: {where} {problems[first]}{more}",
        {
            "portfolio_id": pid,
            "security_id": first,
            "ticker": tickers.get(first),
            "securities": [{"security_id": s, "ticker": tickers.get(s), "problem": problems[s]} for s in bad],
        },
    )


def with_prices_for(services: GlobeCoServices, snapshot: MarketSnapshot, security_ids: Sequence[str]) -> MarketSnapshot:
    """The snapshot plus a price (and security) for each of ``security_ids`` it lacks, e.g. securities that
    per-run overrides add to a model; prices already in the snapshot are never re-read (they stay frozen).

    Raises ``ExternalDataError`` naming a security the Security Service does not know or the Pricing Service
    cannot price, and ``ServiceUnavailable`` when a service is down.
    """
    missing = [sid for sid in dict.fromkeys(security_ids) if sid not in snapshot.prices]
    if not missing:
        return snapshot
    prices = dict(snapshot.prices)
    securities = dict(snapshot.securities)
    for sid in missing:
        info = securities.get(sid) or services.security.get(sid)
        if info is None:
            raise ExternalDataError(f"security {sid} is unknown to the Security Service", {"security_id": sid})
        securities[sid] = info
        prices[sid] = services.pricing.price(info.ticker)
    return replace(snapshot, prices=prices, securities=securities)
