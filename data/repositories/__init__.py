"""MongoDB repositories of investment models and saved rebalance records (product-spec 1.5–1.8, 2.8, 3.16)."""

from data.repositories.models import ModelRepository
from data.repositories.rebalances import RebalanceRepository, RebalanceSummary
from data.repositories.runs import delete_run, save_run

__all__ = ["ModelRepository", "RebalanceRepository", "RebalanceSummary", "delete_run", "save_run"]
