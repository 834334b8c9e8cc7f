"""Demo seeding: on first start with an empty ``models`` collection, load the demo models (never overwrite).

The demo dataset (``data.demo.load_demo().models``) supplies the models; while that package is absent a minimal
built-in set keeps a fresh install usable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from data.repositories.models import ModelRepository
from engine.errors import BusinessRuleViolation
from engine.models import InvestmentModel, Position

log = logging.getLogger(__name__)


def _pos(security_id: str, target: str, drift: str) -> Position:
    return Position(
        security_id=security_id, target=Decimal(target), high_drift=Decimal(drift), low_drift=Decimal(drift)
    )


# Fallback only: ids are 24-hex strings in the GlobeCo style; the demo dataset replaces these once it exists.
BUILTIN_MODELS: tuple[InvestmentModel, ...] = (
    InvestmentModel(
        name="Demo Balanced Growth",
        positions=(
            _pos("68430c0edbfc814369506001", "0.30", "0.03"),
            _pos("68430c0edbfc814369506002", "0.25", "0.03"),
            _pos("68430c0edbfc814369506003", "0.20", "0.02"),
            _pos("68430c0edbfc814369506004", "0.15", "0.02"),
        ),
        portfolios=("68430c0edbfc8143695070a1", "68430c0edbfc8143695070a2"),
    ),
    InvestmentModel(
        name="Demo Conservative Income",
        positions=(
            _pos("68430c0edbfc814369506005", "0.40", "0.02"),
            _pos("68430c0edbfc814369506006", "0.30", "0.02"),
            _pos("68430c0edbfc814369506001", "0.10", "0.01"),
        ),
        portfolios=("68430c0edbfc8143695070a3",),
    ),
)


def demo_models() -> list[InvestmentModel]:
    """The demo dataset's models, or the built-in set while ``data.demo`` does not exist yet."""
    try:
        from data.demo import load_demo  # built by the services issue
    except ModuleNotFoundError as exc:
        if exc.name != "data.demo":  # a broken dependency inside data.demo must not hide behind the fallback
            raise
        return list(BUILTIN_MODELS)
    return [_as_model(m) for m in load_demo().models]


def seed_demo_models(repo: ModelRepository, models: Iterable[InvestmentModel | Mapping[str, Any]]) -> int:
    """Insert ``models`` only if the collection is empty; return how many this call inserted.

    Safe when two app sessions start at once: both may see an empty collection, but the unique name and portfolio
    indexes make the second insert of each model fail with ``BusinessRuleViolation``, which is skipped here.
    """
    if repo.count_models() > 0:
        return 0
    inserted = 0
    for item in models:
        model = _as_model(item)
        try:
            created = repo.create_model(model.name, model.positions, model.portfolios)
        except BusinessRuleViolation as exc:
            log.info("demo model %r not seeded: %s", model.name, exc.message)
            continue
        if model.last_rebalance_date is not None and created.model_id:
            repo.stamp_last_rebalance(created.model_id, model.last_rebalance_date)
        inserted += 1
    return inserted


def _as_model(item: InvestmentModel | Mapping[str, Any]) -> InvestmentModel:
    return item if isinstance(item, InvestmentModel) else InvestmentModel.model_validate(dict(item))
