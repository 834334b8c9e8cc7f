"""The model editor: positions grid (st.data_editor), live rule check, portfolio linking, CSV import/export.

The grid shows securities as "TICKER — description" (never a raw id to type) and weights as percentages while
editing raw fractions. Each edit is folded into the draft by the grid's ``on_change`` callback, so the read-only
columns (band, check, security id) are recomputed on the next run; what the grid *returns* is always the truth the
rule check and the save use (it includes edits that were not folded yet, e.g. seeded by AppTest).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from components import feedback, pickers, state
from components.feedback import escape_md
from components.models import keys as models_keys
from components.models.csv_io import parse_positions_csv, positions_to_csv
from components.models.draft import (
    DEFAULT_DRIFT,
    DEFAULT_TARGET,
    DraftCheck,
    ModelDraft,
    add_security,
    check_rows,
    fold_delta,
    row_changes,
    weight_cell,
    weight_text,
)
from components.tables import fmt_pct, weight_text_col
from engine.models import InvestmentModel
from engine.validation import MAX_TARGET_SUM

# pixel widths keep the grid's geometry fixed (the browser tests address cells by position)
WIDTHS = {
    "security": 230,
    "target": 80,
    "low_drift": 100,
    "high_drift": 100,
    "band": 130,
    "changed": 200,
    "check": 270,
    "security_id": 210,
}


class SecurityIndex:
    """Security look-ups for the grid: id <-> label ("TICKER — description"), ticker map."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.labels: list[str] = frame["label"].tolist()
        self.label_to_id: dict[str, str] = dict(zip(frame["label"], frame["security_id"], strict=True))
        self.id_to_label: dict[str, str] = dict(zip(frame["security_id"], frame["label"], strict=True))
        self.ticker_of: dict[str, str] = dict(zip(frame["security_id"], frame["ticker"], strict=True))
        self.id_of_ticker: dict[str, str] = {
            t.upper(): i for i, t in zip(frame["security_id"], frame["ticker"], strict=True)
        }
        self.about: dict[str, tuple[str, str]] = {
            i: (t, d) for i, t, d in zip(frame["security_id"], frame["ticker"], frame["description"], strict=True)
        }
        self.candidates = pickers.security_candidates(frame)

    def label(self, security_id: str | None) -> str | None:
        """The grid label of ``security_id`` (None for an empty cell)."""
        if not security_id:
            return None
        # an id unknown to the Security Service stays visible instead of silently vanishing from the model
        return self.id_to_label.get(security_id, f"{security_id} — unknown security")


def _band(r: Mapping[str, Any]) -> str:
    try:
        t, lo, hi = float(r["target"]), float(r["low_drift"]), float(r["high_drift"])
    except (TypeError, ValueError, KeyError):
        return ""
    return f"{fmt_pct(max(0.0, t - lo), 1)} – {fmt_pct(min(1.0, t + hi), 1)}"


def editor_frame(
    rows: list[dict[str, Any]], index: SecurityIndex, check: DraftCheck, base: InvestmentModel | None = None
) -> pd.DataFrame:
    """The frame shown in the grid (columns security, target, low_drift, high_drift, band, changed, check,
    security_id); ``changed`` says what differs from the stored model ``base`` (before → after)."""
    changed = row_changes(rows, base)
    data = [
        {
            "security": index.label(r.get("security_id")),
            "target": weight_text(r.get("target")),
            "low_drift": weight_text(r.get("low_drift")),
            "high_drift": weight_text(r.get("high_drift")),
            "band": _band(r),
            "changed": f"✎ {changed[i]}" if changed[i] else "",
            "check": ("⚠ " + check.row_text(i)) if check.row_text(i) else "✓",
            "security_id": r.get("security_id"),
        }
        for i, r in enumerate(rows)
    ]
    return pd.DataFrame(data, columns=list(WIDTHS)).astype("object")


def _column_config(index: SecurityIndex, rows: list[dict[str, Any]]) -> dict[str, Any]:
    cc = st.column_config
    # a stored id the Security Service does not know must still show ("<id> — unknown security"), not a blank cell
    unknown = [index.label(r["security_id"]) for r in rows if r.get("security_id") not in (None, *index.id_to_label)]
    return {
        "security": cc.SelectboxColumn(
            "Security",
            options=[*index.labels, *dict.fromkeys(unknown)],
            required=True,
            width=WIDTHS["security"],
            help="Type a ticker to search",
        ),
        "target": weight_text_col(
            "Target", WIDTHS["target"], weight_text(DEFAULT_TARGET), "Target weight, 0–95 % in 0.5 % steps."
        ),
        "low_drift": weight_text_col(
            "Low drift", WIDTHS["low_drift"], weight_text(DEFAULT_DRIFT), "Allowed drift below the target, 0–100 %."
        ),
        "high_drift": weight_text_col(
            "High drift", WIDTHS["high_drift"], weight_text(DEFAULT_DRIFT), "Allowed drift above the target, 0–100 %."
        ),
        "band": cc.TextColumn(
            "Band (weight)", disabled=True, width=WIDTHS["band"], help="Target − low … target + high"
        ),
        "changed": cc.TextColumn(
            "Changed (unsaved)", disabled=True, width=WIDTHS["changed"], help="What differs from the stored model"
        ),
        "check": cc.TextColumn("Check", disabled=True, width=WIDTHS["check"], help="Rules broken by this row"),
        "security_id": cc.TextColumn("Security ID", disabled=True, width=WIDTHS["security_id"]),
    }


def rows_from_frame(frame: pd.DataFrame, index: SecurityIndex) -> list[dict[str, Any]]:
    """Grid output -> draft rows (security label mapped back to its id)."""
    out = []
    for rec in frame.to_dict("records"):
        label = rec.get("security")
        sid = index.label_to_id.get(label) if isinstance(label, str) else None
        if sid is None and isinstance(label, str) and " — unknown security" in label:
            sid = label.split(" — ")[0]
        out.append({k: weight_cell(rec.get(k), k) for k in ("target", "low_drift", "high_drift")})
        out[-1]["security_id"] = sid
    return out


@feedback.callback("apply the edits")
def _fold_edits(index_labels: dict[str, str]) -> None:
    draft: ModelDraft | None = state.get(models_keys.MODELS_DRAFT)
    delta = st.session_state.get(models_keys.MODEL_EDITOR)
    if draft is None or not isinstance(delta, dict):
        return
    draft.rows = fold_delta(draft.rows, delta, index_labels)
    # the grid gets new data next run (a new widget); the stale delta must not be applied twice
    state.drop(models_keys.MODEL_EDITOR)


def _add_securities(security_ids: list[str], label_to_id: dict[str, str]) -> None:
    """``on_pick`` of the "Add security" search: a new grid row per security not yet in the model."""
    _fold_edits(label_to_id)  # edits typed in the grid but not folded yet stay
    draft: ModelDraft | None = state.get(models_keys.MODELS_DRAFT)
    if draft is None:
        return
    for sid in security_ids:
        draft.rows = add_security(draft.rows, sid)
    state.drop(models_keys.MODEL_EDITOR)


def render_positions(draft: ModelDraft, index: SecurityIndex, name: str) -> tuple[list[dict[str, Any]], DraftCheck]:
    """Render the "Add security" search, the grid and the live rule check; return the edited rows and their check."""
    with st.container():
        pickers.search_box(
            "Add security",
            index.candidates,
            models_keys.MODELS_ADD_SECURITY,
            lambda ids: _add_securities(ids, index.label_to_id),
            help="Enter adds an exact ticker (or the only match) as a new row with target 0 %. Otherwise pick from "
            "the matches: exact ticker first, then tickers starting with it, then names; fuzzy matches are marked.",
        )
    shown = check_rows(name, draft.rows, draft.portfolios, known=index.id_to_label)
    edited = st.data_editor(
        editor_frame(draft.rows, index, shown, draft.base),
        column_config=_column_config(index, draft.rows),
        column_order=list(WIDTHS),
        num_rows="dynamic",
        hide_index=True,
        width="content",
        key=models_keys.MODEL_EDITOR,
        on_change=_fold_edits,
        args=(index.label_to_id,),
    )
    rows = rows_from_frame(edited, index)
    check = check_rows(name, rows, draft.portfolios, known=index.id_to_label)
    render_check(check, rows, index)
    return rows, check


def render_check(check: DraftCheck, rows: list[dict[str, Any]], index: SecurityIndex) -> None:
    """Live totals and every broken rule, each with the grid row and ticker it concerns."""
    c1, c2, c3 = st.columns(3)
    over = check.target_sum > MAX_TARGET_SUM  # the exact Decimal rule (a float 0.95 made Σ 95.0 % "over the cap")
    c1.metric(
        "Σ targets (max 95 %)",
        fmt_pct(check.target_sum, 1),
        delta="over the cap" if over else None,
        delta_color="inverse" if over else "off",
    )
    c2.metric("Implied cash (100 % − Σ targets)", fmt_pct(check.cash, 1))
    c3.metric("Positions with a target (max 100)", f"{check.live_positions}")
    blocking = [i for i in check.issues if i.blocking]
    notes = [i for i in check.issues if not i.blocking]
    if blocking:
        lines = [f"- {escape_md(_where(i.row, rows, index) + i.message)}" for i in blocking]
        st.error(
            f"**{len(blocking)} rule(s) broken — fix them before saving:**\n" + "\n".join(lines), icon=":material/rule:"
        )
    else:
        st.success("All model rules pass.", icon=":material/check_circle:")
    if notes:
        st.info(
            "\n".join(f"- {escape_md(_where(i.row, rows, index) + i.message)}" for i in notes), icon=":material/info:"
        )


def _where(row: int | None, rows: list[dict[str, Any]], index: SecurityIndex) -> str:
    if row is None:
        return ""
    sid = rows[row].get("security_id") if row < len(rows) else None
    ticker = index.ticker_of.get(sid, sid) if sid else "no security"
    return f"Row {row + 1} ({ticker}): "


# --- portfolios ---------------------------------------------------------------------------------------------------
@feedback.callback("change the linked portfolios")
def _link(key: str, add: bool) -> None:
    draft: ModelDraft | None = state.get(models_keys.MODELS_DRAFT)
    picked = st.session_state.get(key) or []
    if draft is None or not picked:
        return
    if add:
        draft.portfolios = draft.portfolios + [p for p in picked if p not in draft.portfolios]
    else:
        draft.portfolios = [p for p in draft.portfolios if p not in set(picked)]
    st.session_state[key] = []


@feedback.callback("link the portfolio")
def _link_picked(portfolio_ids: list[str]) -> None:
    draft: ModelDraft | None = state.get(models_keys.MODELS_DRAFT)
    if draft is not None:
        draft.portfolios = draft.portfolios + [p for p in portfolio_ids if p not in draft.portfolios]


def render_portfolios(draft: ModelDraft, names: Mapping[str, str], owner_of: Mapping[str, str]) -> None:
    """Link / unlink portfolios by name; explain up front when one already follows another model."""
    base = set(draft.base.portfolios) if draft.base else set()
    linked = set(draft.portfolios)
    st.caption(
        f"{len(draft.portfolios)} portfolio(s) follow this model. A portfolio follows at most one model; "
        "changes apply when you save the model."
    )

    def label(pid: str) -> str:
        owner = owner_of.get(pid)
        taken = f" · follows '{owner}'" if owner and owner != draft.name and pid not in base else ""
        return f"{names.get(pid, pid)}{taken}"

    left, right = st.columns(2)
    with left:
        unlinked = [p for p in names if p not in linked]
        pickers.search_box(
            "Link portfolios: search",
            pickers.portfolio_candidates(names, unlinked),
            models_keys.MODELS_LINK_SEARCH,
            _link_picked,
            placeholder="Part of a portfolio name, then Enter",
            help="Names starting with the text first, then names containing it; fuzzy matches are marked. "
            "Enter links the only (or the exact) match.",
        )
    left.multiselect(
        "Link portfolios",
        options=unlinked,
        format_func=label,
        key=models_keys.MODELS_LINK_INPUT,
        on_change=_link,
        args=(models_keys.MODELS_LINK_INPUT, True),
        placeholder="Or pick from the list",
        filter_mode=None,
    )
    right.multiselect(
        "Unlink portfolios",
        options=draft.portfolios,
        format_func=lambda p: names.get(p, p),
        key=models_keys.MODELS_UNLINK_INPUT,
        on_change=_link,
        args=(models_keys.MODELS_UNLINK_INPUT, False),
        placeholder="Search linked portfolios",
    )
    blocked = [p for p in draft.portfolios if p not in base and owner_of.get(p) not in (None, draft.name)]
    if blocked:
        shown = ", ".join(f"'{escape_md(names.get(p, p))}' (follows '{escape_md(owner_of[p])}')" for p in blocked[:5])
        more = f" and {len(blocked) - 5} more" if len(blocked) > 5 else ""
        st.warning(
            f"Saving will be refused: {shown}{more}. A portfolio follows at most one investment model — "
            "unlink it from the other model first, or unlink it here.",
            icon=":material/link_off:",
        )
    removed = sorted(base - linked, key=lambda p: names.get(p, p))
    rows = [
        {
            "Portfolio": names.get(p, "(not in the Portfolio Service)"),
            "Portfolio ID": p,
            "Change": "" if p in base else "will be linked",
        }
        for p in draft.portfolios
    ]
    rows += [{"Portfolio": names.get(p, p), "Portfolio ID": p, "Change": "will be unlinked"} for p in removed]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=min(36 + 35 * len(rows), 320))


# --- CSV ------------------------------------------------------------------------------------------------------------
def render_csv(draft: ModelDraft, rows: list[dict[str, Any]], index: SecurityIndex) -> None:
    """Export the grid as CSV; import a CSV into the grid after validating every row."""
    left, right = st.columns(2)
    with left:
        st.markdown("**Export**")
        st.download_button(
            "Download positions CSV",
            data=positions_to_csv(rows, index.about),
            file_name=f"model_{(draft.name or 'new').strip().replace(' ', '_')}_positions.csv",
            mime="text/csv",
            on_click="ignore",
            key="models_dl_csv",
            icon=":material/download:",
        )
        st.caption(
            "Columns: securityId, ticker, description, target, lowDrift, highDrift. Weights: 3.5, 3.5% and 0.035 "
            "all mean 3.5 % (a bare number below 1 is a fraction)."
        )
    with right:
        st.markdown("**Import** (replaces the positions in the editor; nothing is saved until you save)")
        upload = st.file_uploader("Positions CSV", type=["csv"], key="models_upload")
        if upload is not None and st.button("Import into editor", key="models_import", icon=":material/upload:"):
            result = parse_positions_csv(upload.getvalue(), dict(index.ticker_of), index.id_of_ticker)
            state.put(models_keys.MODELS_IMPORT_REPORT, result.errors)
            if not result.errors:
                draft.rows = result.rows
                state.drop(models_keys.MODEL_EDITOR)
                st.toast(f"Imported {len(result.rows)} positions into the editor", icon=":material/upload:")
                st.rerun()
        report = state.get(models_keys.MODELS_IMPORT_REPORT) or []
        if report:
            st.error(
                f"**Import refused — {len(report)} problem(s):**\n"
                + "\n".join(f"- {escape_md(e)}" for e in report[:50]),
                icon=":material/error:",
            )
