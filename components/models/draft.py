"""The model being edited, as plain data: rows of the positions grid, name, linked portfolios, base version.

Pure functions (no Streamlit): grid rows <-> engine positions, per-row and whole-model rule checks with the grid's
row numbers, the data_editor delta fold, and the difference between two stored versions (for version conflicts).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from engine.errors import InvalidInput, Violation
from engine.models import InvestmentModel, Position, to_decimal
from engine.validation import (
    MAX_TARGET,
    format_percent,
    model_violations,
    model_warnings,
    nearest_targets,
    parse_weight,
)

DEFAULT_TARGET = 0.0
DEFAULT_DRIFT = 0.05
GRID_COLUMNS = ("security_id", "target", "low_drift", "high_drift")
FIELD_LABELS = {"security_id": "security", "target": "target", "low_drift": "low drift", "high_drift": "high drift"}


@dataclass
class ModelDraft:
    """A model being created (``model_id`` None) or edited, as shown in the editor."""

    name: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)  # security_id, target, low_drift, high_drift
    portfolios: list[str] = field(default_factory=list)
    model_id: str | None = None
    version: int | None = None
    last_rebalance_date: dt.datetime | None = None
    base: InvestmentModel | None = None  # the stored model the edit started from (None for a new one)

    @property
    def is_new(self) -> bool:
        """Not stored yet (no model id)."""
        return self.model_id is None


def draft_from_model(model: InvestmentModel) -> ModelDraft:
    """An editable copy of a stored model."""
    return ModelDraft(
        name=model.name,
        rows=[
            {
                "security_id": p.security_id,
                "target": float(p.target),
                "low_drift": float(p.low_drift),
                "high_drift": float(p.high_drift),
            }
            for p in model.positions
        ],
        portfolios=list(model.portfolios),
        model_id=model.model_id,
        version=model.version,
        last_rebalance_date=model.last_rebalance_date,
        base=model,
    )


def rebase(draft: ModelDraft, theirs: InvestmentModel) -> ModelDraft:
    """Keep the draft's edits but take ``theirs`` as the new base (so the next save overwrites their version)."""
    return replace(draft, version=theirs.version, last_rebalance_date=theirs.last_rebalance_date, base=theirs)


WEIGHT_MAXIMUM = {"target": MAX_TARGET, "low_drift": Decimal(1), "high_drift": Decimal(1)}


def weight_cell(value: Any, column: str) -> Decimal | str | None:
    """A grid weight cell as the draft keeps it: typed text is read by ``engine.validation.parse_weight`` (percent
    entry) into an exact fraction; text that breaks the rule stays as typed (the check reports it, nothing is
    clamped); a number is already a fraction (a stored model, a CSV import)."""
    if _missing(value):
        return None
    if isinstance(value, str):
        try:
            return parse_weight(value, FIELD_LABELS[column], WEIGHT_MAXIMUM[column])
        except InvalidInput:
            return value.strip()
    return Decimal(str(value))


def weight_problem(text: str, column: str) -> str:
    """Why typed weight text was refused (the message of ``parse_weight``)."""
    try:
        parse_weight(text, FIELD_LABELS[column], WEIGHT_MAXIMUM[column])
    except InvalidInput as err:
        return str(err)
    return f"{FIELD_LABELS[column]} {text!r} was refused"


def weight_text(value: Any) -> str | None:
    """A draft weight as the grid shows it: ``Decimal('0.035')`` -> ``'3.5 %'``; refused text as typed."""
    if _missing(value):
        return None
    if isinstance(value, str):
        return value
    return format_percent(Decimal(str(value)))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def fold_delta(
    rows: Sequence[Mapping[str, Any]], delta: Mapping[str, Any], label_to_id: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Apply a data_editor edit state (``edited_rows``/``deleted_rows``/``added_rows``) to the grid rows.

    The grid shows the security as a "TICKER — description" label in column ``security``; it maps back to an id.
    """

    def apply(row: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
        for col, value in changes.items():
            if col == "security":
                row["security_id"] = None if _missing(value) else label_to_id.get(value, value)
            elif col in WEIGHT_MAXIMUM:
                row[col] = weight_cell(value, col)
            elif col in GRID_COLUMNS:
                row[col] = None if _missing(value) else value
        return row

    out = [dict(r) for r in rows]
    for idx, changes in (delta.get("edited_rows") or {}).items():
        i = int(idx)
        if 0 <= i < len(out):
            apply(out[i], changes)
    deleted = {int(i) for i in delta.get("deleted_rows") or []}
    out = [r for i, r in enumerate(out) if i not in deleted]
    for added in delta.get("added_rows") or []:
        base = {"security_id": None, "target": DEFAULT_TARGET, "low_drift": DEFAULT_DRIFT, "high_drift": DEFAULT_DRIFT}
        out.append(apply(base, added))
    return out


def add_security(rows: Sequence[Mapping[str, Any]], security_id: str) -> list[dict[str, Any]]:
    """The rows with one more for ``security_id`` (target 0, default drifts), unless it already has a row."""
    out = [dict(r) for r in rows]
    if any(r.get("security_id") == security_id for r in out):
        return out
    out.append(
        {"security_id": security_id, "target": DEFAULT_TARGET, "low_drift": DEFAULT_DRIFT, "high_drift": DEFAULT_DRIFT}
    )
    return out


@dataclass(frozen=True)
class RowIssue:
    """A problem shown next to a grid row (``row`` 0-based) or for the whole model (``row`` None)."""

    row: int | None
    field: str | None
    message: str
    blocking: bool = True


@dataclass(frozen=True)
class DraftCheck:
    """Result of checking a draft: positions built from complete rows, issues, live totals."""

    positions: tuple[Position, ...]
    issues: tuple[RowIssue, ...]
    target_sum: Decimal
    live_positions: int

    @property
    def ok(self) -> bool:
        """No blocking issue (warnings allowed)."""
        return not any(i.blocking for i in self.issues)

    @property
    def cash(self) -> Decimal:
        """The implied cash weight, 1 − Σ targets."""
        return Decimal(1) - self.target_sum

    def row_text(self, row: int) -> str:
        """Every issue of one grid row, joined for its "Check" cell."""
        return "; ".join(i.message for i in self.issues if i.row == row)


def _pct(value: Decimal | float) -> str:
    return f"{float(value) * 100:.2f} %".replace(".00 %", " %")


def _row_message(v: Violation, first_row_of: Mapping[str, int]) -> str:
    """A violation re-worded without its row prefix (the grid row is shown next to it)."""
    if v.rule == "target_range":
        return f"target {_pct(v.value)} is outside 0–95 %"
    if v.rule == "target_step":
        nearest = " or ".join(format_percent(t) for t in nearest_targets(Decimal(str(v.value))))
        return f"target {format_percent(Decimal(str(v.value)))} is not a multiple of 0.5 %: use {nearest}"
    if v.rule == "drift_range":
        label = "high drift" if v.field == "highDrift" else "low drift"
        return f"{label} {_pct(v.value)} is outside 0–100 %"
    if v.rule == "duplicate_security":
        return f"duplicate: this security is already in row {first_row_of.get(str(v.value), 0) + 1}"
    if v.rule == "id_format":
        return f"security id {v.value!r} must be 24 letters or digits"
    return v.message


def check_rows(
    name: str | None,
    rows: Sequence[Mapping[str, Any]],
    portfolios: Sequence[str] = (),
    known: Collection[str] | None = None,
) -> DraftCheck:
    """Check a draft against every rule of product-spec 1.3, with issues keyed by grid row.

    Rows with an empty security or number, or a weight that breaks the percent-entry rule, are reported as such and
    left out of the model-wide checks; weights are exact (no rounding before the 0.5 % grid check, rule 1). With
    ``known`` (the ids the Security Service knows), a row whose security is not among them is a blocking "unknown
    security" issue.
    """
    issues: list[RowIssue] = []
    positions: list[Position] = []
    grid_row: list[int] = []
    for i, r in enumerate(rows):
        missing = [f for f in GRID_COLUMNS if _missing(r.get(f))]
        if missing:
            issues.append(RowIssue(i, missing[0], "fill in " + ", ".join(FIELD_LABELS[m] for m in missing)))
            continue
        weights: dict[str, Decimal] = {}
        for col, maximum in WEIGHT_MAXIMUM.items():
            value = r[col]
            try:
                weights[col] = (
                    parse_weight(value, FIELD_LABELS[col], maximum)
                    if isinstance(value, str)
                    else to_decimal(value, FIELD_LABELS[col])
                )
            except (InvalidInput, ValueError) as err:
                issues.append(RowIssue(i, col, str(err)))
        if len(weights) < len(WEIGHT_MAXIMUM):
            continue
        positions.append(
            Position(
                security_id=str(r["security_id"]),
                target=weights["target"],
                low_drift=weights["low_drift"],
                high_drift=weights["high_drift"],
            )
        )
        grid_row.append(i)
        if known is not None and positions[-1].security_id not in known:
            issues.append(
                RowIssue(i, "security_id", f"unknown security {positions[-1].security_id}: the Security Service "
                         "does not know it (pick another security or delete the row)")
            )  # fmt: skip
    first_row_of: dict[str, int] = {}
    for p, i in zip(positions, grid_row, strict=True):
        first_row_of.setdefault(p.security_id, i)
    for v in model_violations(name, positions, portfolios):
        if v.row is None:
            issues.append(RowIssue(None, v.field, v.message))
        else:
            issues.append(RowIssue(grid_row[v.row], v.field, _row_message(v, first_row_of)))
    for text in model_warnings(positions, portfolios):
        row = None
        if text.startswith("row "):
            row = grid_row[int(text.split(":")[0][4:]) - 1]
            text = text.split(": ", 1)[1]
        issues.append(RowIssue(row, None, text, blocking=False))
    total = sum((p.target for p in positions), Decimal(0))
    live = sum(1 for p in positions if p.target != 0)
    issues.sort(key=lambda i: (i.row is not None, i.row or 0))
    return DraftCheck(tuple(positions), tuple(issues), total, live)


def has_unsaved_changes(draft: ModelDraft, name: str, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the editor holds anything the stored model (or, for a new one, an empty model) does not."""
    if draft.base is None:
        return bool(name.strip() or rows or draft.portfolios)
    if name.strip() != draft.base.name or list(draft.portfolios) != list(draft.base.portfolios):
        return True
    stored = [
        {"security_id": p.security_id, "target": p.target, "low_drift": p.low_drift, "high_drift": p.high_drift}
        for p in draft.base.positions
    ]
    shown = [
        {k: (Decimal(str(v)) if k != "security_id" and not isinstance(v, str | None) else v) for k, v in r.items()}
        for r in rows
    ]
    return shown != stored


# --- unsaved changes ---------------------------------------------------------------------------------------------
def _same(a: Any, b: Any) -> bool:
    """Two weights equal as numbers (refused text equals nothing but the same text)."""
    if isinstance(a, str) or isinstance(b, str) or _missing(a) or _missing(b):
        return a == b
    return Decimal(str(a)) == Decimal(str(b))


def row_changes(rows: Sequence[Mapping[str, Any]], base: InvestmentModel | None) -> list[str]:
    """Per grid row, what differs from the stored model: "new", "target 3.0 % → 3.5 %; …", or "" (unchanged)."""
    stored = base.position_map() if base is not None else {}
    out = []
    for r in rows:
        before = stored.get(r.get("security_id") or "")
        if before is None:
            out.append("new")
            continue
        diffs = [
            f"{FIELD_LABELS[col]} {weight_text(getattr(before, col))} → {weight_text(r.get(col)) or '(empty)'}"
            for col in ("target", "low_drift", "high_drift")
            if not _same(getattr(before, col), r.get(col))
        ]
        out.append("; ".join(diffs))
    return out


def draft_changes(
    draft: ModelDraft,
    name: str,
    rows: Sequence[Mapping[str, Any]],
    ticker_of: Mapping[str, str],
    names: Mapping[str, str],
) -> list[dict[str, str]]:
    """Every unsaved change of the editor against the stored model, one row each: What, Before, After."""
    base = draft.base

    def t(sid: str | None) -> str:
        return ticker_of.get(sid, sid) if sid else "(no security)"

    def pos(values: Mapping[str, Any] | Position) -> str:
        get = values.get if isinstance(values, Mapping) else lambda k: getattr(values, k)
        target, low, high = (weight_text(get(c)) for c in ("target", "low_drift", "high_drift"))
        return f"target {target}, band −{low} / +{high}"

    out: list[dict[str, str]] = []
    before_name = base.name if base is not None else ""
    if name.strip() != before_name:
        out.append({"What": "Name", "Before": before_name or "—", "After": name.strip() or "—"})
    stored = base.position_map() if base is not None else {}
    shown = {r.get("security_id") for r in rows}
    for r, change in zip(rows, row_changes(rows, base), strict=True):
        if change == "new":
            out.append({"What": f"Added {t(r.get('security_id'))}", "Before": "—", "After": pos(r)})
        elif change:
            before = stored[r["security_id"]]
            for col in ("target", "low_drift", "high_drift"):
                if not _same(getattr(before, col), r.get(col)):
                    out.append(
                        {
                            "What": f"{t(r['security_id'])} {FIELD_LABELS[col]}",
                            "Before": weight_text(getattr(before, col)) or "—",
                            "After": weight_text(r.get(col)) or "(empty)",
                        }
                    )
    for sid, p in stored.items():
        if sid not in shown:
            out.append({"What": f"Removed {t(sid)}", "Before": pos(p), "After": "—"})
    linked_before = list(base.portfolios) if base is not None else []
    for p in draft.portfolios:
        if p not in linked_before:
            out.append({"What": "Portfolio linked", "Before": "—", "After": names.get(p, p)})
    for p in linked_before:
        if p not in draft.portfolios:
            out.append({"What": "Portfolio unlinked", "Before": names.get(p, p), "After": "—"})
    return out


# --- version conflicts -------------------------------------------------------------------------------------------
def model_changes(
    before: InvestmentModel, after: InvestmentModel, ticker_of: Mapping[str, str]
) -> list[dict[str, str]]:
    """What changed between two stored versions, one row per change: What, Before, After."""

    def t(sid: str) -> str:
        return ticker_of.get(sid, sid)

    def pos(p: Position | None) -> str:
        if p is None:
            return "—"
        return f"target {_pct(p.target)}, band −{_pct(p.low_drift)} / +{_pct(p.high_drift)}"

    out: list[dict[str, str]] = []
    if before.name != after.name:
        out.append({"What": "Name", "Before": before.name, "After": after.name})
    b, a = before.position_map(), after.position_map()
    for sid in sorted(set(b) | set(a), key=t):
        if b.get(sid) != a.get(sid):
            out.append({"What": f"Position {t(sid)}", "Before": pos(b.get(sid)), "After": pos(a.get(sid))})
    added = sorted(set(after.portfolios) - set(before.portfolios))
    removed = sorted(set(before.portfolios) - set(after.portfolios))
    if added:
        out.append({"What": "Portfolios linked", "Before": "—", "After": f"{len(added)} portfolio(s)"})
    if removed:
        out.append({"What": "Portfolios unlinked", "Before": f"{len(removed)} portfolio(s)", "After": "—"})
    if before.last_rebalance_date != after.last_rebalance_date:
        out.append(
            {
                "What": "Last rebalance",
                "Before": str(before.last_rebalance_date),
                "After": str(after.last_rebalance_date),
            }
        )
    return out
