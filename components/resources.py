"""Cached factories for everything the pages talk to: settings, GlobeCo service clients, MongoDB, repositories.

One instance per process (``st.cache_resource``) for clients and repositories; ``st.cache_data`` (10 minutes, the
ticker TTL of services.md) for reference lists. Settings come from the environment, overlaid by values from
``.streamlit/secrets.toml`` when present (top-level keys or a ``[settings]`` table, named like the environment
variables, e.g. ``MONGODB_URI``). Pages and components call these functions through the module
(``resources.model_repo()``) so tests can patch them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd
import streamlit as st
from pydantic import ValidationError

from components import feedback
from data.mongo import describe_backend, get_client, get_database
from data.repositories import ModelRepository, RebalanceRepository, ensure_indexes
from data.repositories.submissions import SubmissionLog
from data.repositories.workspaces import WorkspaceRepository
from data.seed import demo_models, seed_demo_models
from data.services import GlobeCoServices, build_services
from data.settings import Settings
from engine.errors import InvalidInput, Violation

log = logging.getLogger(__name__)

SERVICE_NAMES = ("accounting", "portfolio", "pricing", "security", "order")
DEMO_SEED_ENV = "DEMO_SEED"  # "auto" (default: seed when the services are the embedded simulator), "1", "0"


def _secrets_overlay() -> dict[str, Any]:
    """Settings found in st.secrets, keyed by lower-case field name (no secrets file -> empty)."""
    try:
        raw = {k: st.secrets[k] for k in st.secrets}
    except Exception:  # no secrets.toml anywhere: Streamlit raises; that simply means "no overlay"
        return {}
    flat: dict[str, Any] = {}
    section = raw.pop("settings", None)
    for source in (raw, section if isinstance(section, Mapping) else {}):
        for key, value in dict(source).items():
            if not isinstance(value, Mapping):  # another [table] of secrets.toml: not a setting
                flat[str(key).lower()] = value
    return flat


def settings() -> Settings:
    """Settings from the environment, overlaid by matching keys of ``st.secrets``.

    A bad value raises ``InvalidInput`` naming the setting, its value and the rule (not a pydantic error).
    """
    overlay = {k: v for k, v in _secrets_overlay().items() if k in Settings.model_fields}
    try:
        return Settings(**overlay)
    except ValidationError as err:
        violations = [
            Violation(
                "setting",
                f"setting {str(e['loc'][0]).upper()} = {e.get('input')!r}: {e['msg']}",
                None,
                str(e["loc"][0]).upper(),
                e.get("input"),
            )
            for e in err.errors()
        ]
        raise InvalidInput(
            "the app configuration is invalid: " + "; ".join(v.message for v in violations),
            {"field": "settings"},
            violations,
        ) from None


def service_transport() -> httpx.BaseTransport | None:
    """Transport handed to the service clients; None lets ``data.services`` choose (tests patch this)."""
    return None


@st.cache_resource(show_spinner=False, on_release=lambda s: s.close())
def services() -> GlobeCoServices:
    """The GlobeCo service clients (embedded simulator when a service has no URL)."""
    return build_services(settings(), transport=service_transport())


@st.cache_resource(show_spinner=False, on_release=lambda c: c.close())
def mongo_client() -> Any:  # data.mongo.get_client: a pymongo or a mongoeco client (no common type)
    """The MongoDB client chosen by ``MONGODB_URI`` (embedded mongoeco by default)."""
    return get_client(settings().mongodb_uri)


@st.cache_resource(show_spinner=False)
def mongo_db() -> Any:
    """The ``order-generation`` database with its indexes ensured."""
    db = get_database(mongo_client())
    ensure_indexes(db)
    return db


def demo_seed_enabled() -> bool:
    """Seed the demo models? ``DEMO_SEED`` = 1/0, or auto: only when every service is the embedded simulator."""
    raw = str(_secrets_overlay().get(DEMO_SEED_ENV.lower(), os.environ.get(DEMO_SEED_ENV, "auto"))).strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    s = settings()
    return all(s.service_url(name) in (None, "") for name in SERVICE_NAMES)


@st.cache_resource(show_spinner=False)
def model_repo() -> ModelRepository:
    """The model repository; on first use of an empty database, seeds the demo models (see ``DEMO_SEED``)."""
    repo = ModelRepository(mongo_db())
    if demo_seed_enabled():
        added = seed_demo_models(repo, demo_models())
        if added:
            log.info("seeded %d demo models", added)
    return repo


@st.cache_resource(show_spinner=False)
def rebalance_repo() -> RebalanceRepository:
    """The saved-rebalance repository."""
    return RebalanceRepository(mongo_db())


@st.cache_resource(show_spinner=False)
def workspace_repo() -> WorkspaceRepository:
    """The what-if workspaces (expire after ``WORKSPACE_TTL_DAYS`` unused)."""
    return WorkspaceRepository(mongo_db(), ttl=dt.timedelta(days=settings().workspace_ttl_days))


@st.cache_resource(show_spinner=False)
def submission_log() -> SubmissionLog:
    """The order-submission log (what was sent, and its outcome)."""
    return SubmissionLog(mongo_db())


@st.cache_data(ttl="10m", show_spinner=False)
def securities() -> pd.DataFrame:
    """Every security: ``security_id``, ``ticker``, ``description``, ``label`` ("AAPL — Apple Inc."), by ticker."""
    rows = [
        {"security_id": s.security_id, "ticker": s.ticker, "description": s.description}
        for s in services().security.all_securities()
    ]
    df = pd.DataFrame(rows, columns=["security_id", "ticker", "description"])
    df["label"] = df["ticker"] + " — " + df["description"]
    return df.sort_values(["ticker", "security_id"], ignore_index=True)


@st.cache_data(ttl="10m", show_spinner=False)
def portfolios() -> pd.DataFrame:
    """Every portfolio of the Portfolio Service: ``portfolio_id``, ``name``, by name."""
    rows = [{"portfolio_id": p.portfolio_id, "name": p.name} for p in services().portfolio.all_portfolios()]
    df = pd.DataFrame(rows, columns=["portfolio_id", "name"])
    return df.sort_values(["name", "portfolio_id"], ignore_index=True)


def portfolio_names() -> dict[str, str]:
    """Portfolio id -> name; soft: when the Portfolio Service fails, says so and returns {} (ids are shown)."""
    return _soft_map(portfolios, "portfolio_id", "name", "load portfolio names (ids are shown instead)")


def tickers() -> dict[str, str]:
    """Security id -> ticker; soft: when the Security Service fails, says so and returns {} (ids are shown)."""
    return _soft_map(securities, "security_id", "ticker", "load tickers (security ids are shown instead)")


def _soft_map(load: Callable[[], pd.DataFrame], key: str, value: str, action: str) -> dict[str, str]:
    try:
        listed = load()
    except Exception as err:  # names and tickers are a convenience: every page still works with ids
        feedback.show(err, action)
        return {}
    return dict(zip(listed[key], listed[value], strict=True))


def clear_reference_data() -> None:
    """Forget the cached securities and portfolios (after a service outage, or on "Refresh")."""
    securities.clear()
    portfolios.clear()


@dataclass(frozen=True)
class BackendStatus:
    """One line of the sidebar status block."""

    name: str
    target: str  # "embedded simulator", a URL, "embedded mongoeco (var/app.sqlite3)" ...
    ok: bool | None  # None: not checked
    detail: str = ""


@st.cache_data(ttl="30s", show_spinner=False)
def backend_status() -> list[BackendStatus]:
    """Which backends are in use and whether they answer (cached 30 s so reruns stay cheap)."""
    out: list[BackendStatus] = []
    try:
        svc = services()
        described = svc.describe()
        health = svc.health()
        for name in SERVICE_NAMES:
            h = health.get(name)
            target = str(described.get(name, "?"))
            out.append(BackendStatus(name, target, None) if h is None else BackendStatus(name, target, h.ok, h.detail))
    except Exception as err:  # the status block must render even when the service layer cannot start
        log.warning("service status unavailable: %s", err)
        out.extend(BackendStatus(name, "unknown", False, "client could not start") for name in SERVICE_NAMES)
    where = "database"
    try:
        where = describe_backend(settings().mongodb_uri)  # credentials redacted
        mongo_db().command("ping")
        out.append(BackendStatus("database", where, True))
    except Exception as err:  # shown as "down" in the sidebar; the pages report the typed error
        log.warning("database ping failed: %s", err)
        out.append(BackendStatus("database", where, False, "not answering"))
    return out
