"""Saving a reviewed what-if run (product-spec 3.16): version check, insert, stamp."""

from __future__ import annotations

from data.repositories.inputs import check_user, check_version
from data.repositories.models import ModelRepository
from data.repositories.rebalances import RebalanceRepository
from engine.errors import NotFound, VersionConflict
from engine.models import RebalanceRecord


def save_run(
    models: ModelRepository,
    rebalances: RebalanceRepository,
    record: RebalanceRecord,
    model_version: int,
    saved_by: str | None = None,
) -> RebalanceRecord:
    """Persist exactly the reviewed record, then stamp the model's ``lastRebalanceDate`` (no version bump).

    ``model_version`` is the model version the run used: if the model changed since, nothing is saved and
    ``VersionConflict`` asks the user to re-run. The stamp is conditional on that same version, so a model edited
    between the check and the stamp also ends in ``VersionConflict``, and the just-inserted record is removed again.
    Returns the stored record (with ``rebalance_id``; ``number_of_portfolios`` = portfolios persisted).
    ``saved_by`` (the signed-in user's id) is stored as ``savedBy``.
    """
    model_version = check_version(model_version, "model version")
    if saved_by is not None:
        record = record.model_copy(update={"saved_by": check_user(saved_by, "savedBy")})
    model = models.get_model(record.model_id)
    if model.version != model_version:
        raise _changed(record, model_version, model.version)
    saved = rebalances.save_rebalance(record)
    try:
        models.stamp_last_rebalance(record.model_id, saved.rebalance_date, version=model_version)
    except (VersionConflict, NotFound) as exc:
        rebalances.delete_rebalance(saved.rebalance_id or "", saved.version)  # undo: the record would be stale
        if isinstance(exc, NotFound):
            raise
        raise _changed(record, model_version, exc.details.get("current_version")) from exc
    return saved


def delete_run(models: ModelRepository, rebalances: RebalanceRepository, rebalance_id: str, version: int) -> None:
    """Delete a saved run (version-checked) and take its date back off the model's ``lastRebalanceDate``.

    When the model's last rebalance was this run, it becomes the newest remaining run of the model (or none), so a
    deleted run's date never shows as the model's last rebalance.
    """
    head = rebalances.get_summary(rebalance_id)
    rebalances.delete_rebalance(rebalance_id, version)
    # conditional on the date: a model deleted meanwhile, or stamped by a newer run, is left as it is
    models.unstamp_last_rebalance(head.model_id, head.rebalance_date, rebalances.latest_rebalance_date(head.model_id))


def _changed(record: RebalanceRecord, used: int, current: object) -> VersionConflict:
    return VersionConflict(
        f"model {record.model_name!r} changed since the run (the run used version {used}, "
        f"it is now version {current}) — re-run the rebalance before saving",
        {"model_id": record.model_id, "expected_version": used, "current_version": current},
    )
