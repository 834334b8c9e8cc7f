"""Cached factories for everything the pages talk to: settings, GlobeCo service clients, MongoDB, repositories.

One instance per process (``st.cache_resource``) for clients and repositories; ``st.cache_data`` (10 minutes, the
ticker TTL of services.md) for reference lists. Settings come from the environment, overlaid by values from
``.streamlit/secrets.toml`` when present (top-level keys or a ``[settings]`` table, named like the environment
variables, e.g. ``MONGODB_URI``). Pages and components call these functions through the module
(``resources.model_repo()``) so tests can patch them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st
from pydantic import ValidationError

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
    for source in (raw, section if isinstance(section, dict) or hasattr(section, "items") else {}):
        for key, value in dict(source).items():
            if not hasattr(value, "items"):
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


def service_transport() -> Any:
    """Transport handed to the service clients; None lets ``data.services`` choose (tests patch this)."""
    return None


@st.cache_resource(show_spinner=False, on_release=lambda s: s.close())
def services() -> Any:
    """The GlobeCo service clients (embedded simulator when a service has no URL)."""
    from data.services import build_services

    return build_services(settings(), transport=service_transport())


@st.cache_resource(show_spinner=False, on_release=lambda c: c.close())
def mongo_client() -> Any:
    """The MongoDB client chosen by ``MONGODB_URI`` (embedded mongoeco by default)."""
    from data.mongo import get_client

    return get_client(settings().mongodb_uri)


@st.cache_resource(show_spinner=False)
def mongo_db() -> Any:
    """The ``order-generation`` database with its indexes ensured."""
    from data.mongo import get_database
    from data.repositories import ensure_indexes

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
    return all(getattr(s, f"{name}_url", None) in (None, "") for name in SERVICE_NAMES)


@st.cache_resource(show_spinner=False)
def model_repo() -> Any:
    """The model repository; on first use of an empty database, seeds the demo models (see ``DEMO_SEED``)."""
    from data.repositories import ModelRepository

    repo = ModelRepository(mongo_db())
    if demo_seed_enabled():
        from data.seed import demo_models, seed_demo_models

        added = seed_demo_models(repo, demo_models())
        if added:
            log.info("seeded %d demo models", added)
    return repo


@st.cache_resource(show_spinner=False)
def rebalance_repo() -> Any:
    """The saved-rebalance repository."""
    from data.repositories import RebalanceRepository

    return RebalanceRepository(mongo_db())


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
            ok = None if h is None else bool(getattr(h, "ok", h))
            out.append(BackendStatus(name, str(described.get(name, "?")), ok, str(getattr(h, "detail", "") or "")))
    except Exception as err:  # the status block must render even when the service layer cannot start
        log.warning("service status unavailable: %s", err)
        out.extend(BackendStatus(name, "unknown", False, "client could not start") for name in SERVICE_NAMES)
    from data.mongo import describe_backend

    where = "database"
    try:
        where = describe_backend(settings().mongodb_uri)  # credentials redacted
        mongo_db().command("ping")
        out.append(BackendStatus("database", where, True))
    except Exception as err:  # shown as "down" in the sidebar; the pages report the typed error
        log.warning("database ping failed: %s", err)
        out.append(BackendStatus("database", where, False, "not answering"))
    return out
