"""Application settings (pydantic-settings): environment variables, overlaid by ``st.secrets`` in the app.

Every field is read from the environment variable of the same name in upper case (``ACCOUNTING_URL``,
``HTTP_TIMEOUT`` ...). A service whose URL is unset (or empty) is served by the embedded simulator in-process
(services.md §1). Keyword arguments win over the environment, so ``Settings(**overlay)`` applies a secrets overlay.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_NAMES: tuple[str, ...] = ("accounting", "portfolio", "pricing", "security", "order")
PriceMode = Literal["fixed", "seeded", "live"]


class Settings(BaseSettings):
    """Every tunable of the app: backends, retry/breaker/cache limits, solver and simulator options."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", frozen=True)

    # Backends. None -> embedded default (mongoeco for the database, the simulator for each service).
    mongodb_uri: str | None = None
    accounting_url: str | None = None
    portfolio_url: str | None = None
    pricing_url: str | None = None
    security_url: str | None = None
    order_url: str | None = None
    accounting_api_key: SecretStr | None = None  # optional X-API-Key; the service does not enforce it

    # HTTP client rules (services.md §2): 10 s timeout, 1 attempt + 3 retries with 1/2/4 s backoff.
    http_timeout: float = Field(10.0, gt=0)
    http_retries: int = Field(3, ge=0, le=10)
    http_backoff: float = Field(1.0, ge=0)
    http_backoff_max: float = Field(30.0, ge=0)
    http_max_connections: int = Field(64, ge=1)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_reset_timeout: float = Field(30.0, ge=0)
    order_retry_after_max: float = Field(30.0, ge=0)  # cap on a 503 Retry-After wait when submitting orders
    order_batch_size: int = Field(1000, ge=1, le=1000)
    health_timeout: float = Field(3.0, gt=0)

    # Caches (services.md §2): tickers 600 s, prices 60 s, at most 1000 entries each.
    ticker_cache_ttl: float = Field(600.0, ge=0)
    price_cache_ttl: float = Field(60.0, ge=0)
    cache_max_entries: int = Field(1000, ge=1)

    # Market snapshot: bounded concurrency, and when to switch from per-item calls to the bulk endpoints.
    snapshot_max_concurrency: int = Field(16, ge=1, le=128)
    bulk_threshold: int = Field(10, ge=0)
    accounting_empty_500_as_empty: bool = False  # treat accounting's 500-for-no-balances body as an empty portfolio

    # Engine and app.
    rebalance_max_workers: int | None = Field(None, ge=1)
    optimization_timeout: float = Field(30.0, gt=0)
    business_tz: str = "UTC"
    workspace_ttl_days: int = Field(14, ge=1, le=365)  # a what-if workspace unused this long expires (issue #12 §2)

    # Embedded simulator (used for every service without a URL).
    simulator_price_mode: PriceMode = "live"
    simulator_seed: int = 20240601

    @field_validator("mongodb_uri", mode="before")
    @classmethod
    def _blank_uri_is_none(cls, value: object) -> object:
        """An empty or blank value means "not configured" (e.g. ``MONGODB_URI=`` in a shell)."""
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("accounting_url", "portfolio_url", "pricing_url", "security_url", "order_url", mode="before")
    @classmethod
    def _blank_url_is_none(cls, value: object) -> object:
        """Blank -> None (embedded simulator); a trailing slash is dropped so paths join cleanly."""
        if isinstance(value, str):
            return value.strip().rstrip("/") or None
        return value

    def service_url(self, name: str) -> str | None:
        """The configured base URL of service ``name`` (one of SERVICE_NAMES), or None for the embedded simulator."""
        if name not in SERVICE_NAMES:
            raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICE_NAMES)}")
        return getattr(self, f"{name}_url")


def get_settings(**overrides: object) -> Settings:
    """Fresh settings from the environment, with ``overrides`` (field names) taking precedence."""
    return Settings(**overrides)
