"""What-if page: the "Trade controls" panel (product-spec 2.12), pre-filled with the model's saved defaults.

The panel only collects the PM's choices into ``engine.models.TradeControls``; the engine applies every rule. The
choices can be saved as the model's defaults (a versioned model write, like positions); a run may override them
without saving. Widget keys carry the model id and version, so picking another model (or saving) pre-fills its
defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import streamlit as st

from components import audit, auth, feedback, pickers, resources
from components.rebalance.frames import DIRECTION_LABELS, INFEASIBLE_LABELS, POLICY_LABELS
from components.rebalance.keys import (
    CTRL_DIRECTION,
    CTRL_INFEASIBLE,
    CTRL_MIN_TRADE,
    CTRL_NO_BUY,
    CTRL_NO_SELL,
    CTRL_NO_TRADE,
    CTRL_POLICY,
    CTRL_SAVE,
    CTRL_SAVE_ERROR,
)
from components.search import Candidate
from engine.models import InvestmentModel, TradeControls


def control_key(base: str, model: InvestmentModel) -> str:
    """The widget key of one control (``keys.CTRL_*``) for ``model``: per model version, so a new version pre-fills
    its own defaults."""
    return f"{base}_{model.model_id}_v{model.version}"


def _security_labels(model: InvestmentModel) -> dict[str, str]:
    """Security id → "TICKER — description" for every known security (the model's own first), ids as fallback."""
    with feedback.guard("load the securities", stop=False):
        frame = resources.securities()
        labels = dict(zip(frame["security_id"], frame["label"], strict=True))
        in_model = {p.security_id for p in model.positions}
        ordered = sorted(labels, key=lambda sid: (sid not in in_model, labels[sid]))
        out = {sid: labels[sid] for sid in ordered}
        for sid in (*model.controls.no_buy, *model.controls.no_sell, *model.controls.no_trade):
            out.setdefault(sid, f"{sid} — unknown security")
        return out
    return {p.security_id: p.security_id for p in model.positions}


def known_securities(model: InvestmentModel) -> set[str]:
    """The security ids the panel's restriction pickers can hold for this model."""
    return set(_security_labels(model))


def panel_values(model: InvestmentModel, controls: TradeControls) -> tuple[dict[str, object], list[str]]:
    """The panel's widget values (by key) that show ``controls`` for ``model``, and the restricted ids its pickers
    cannot hold now (left out)."""
    values: dict[str, object] = {
        control_key(CTRL_POLICY, model): controls.trade_policy,
        control_key(CTRL_MIN_TRADE, model): float(controls.min_trade_value),
        control_key(CTRL_DIRECTION, model): controls.direction,
        control_key(CTRL_INFEASIBLE, model): controls.on_infeasible,
    }
    known = known_securities(model)
    dropped: list[str] = []
    for base, ids in (
        (CTRL_NO_BUY, controls.no_buy),
        (CTRL_NO_SELL, controls.no_sell),
        (CTRL_NO_TRADE, controls.no_trade),
    ):
        values[control_key(base, model)] = [i for i in ids if i in known]
        dropped += [i for i in ids if i not in known]
    return values, dropped


def _restricted(
    label: str,
    base: str,
    help_text: str,
    model: InvestmentModel,
    default: tuple[str, ...],
    labels: Mapping[str, str],
    candidates: list[Candidate],
) -> tuple[str, ...]:
    key = control_key(base, model)
    st.session_state.setdefault(key, [sid for sid in default if sid in labels])  # the model's saved defaults
    # the ranked search (components.search) is the one way to find a ticker: the list itself does not filter
    pickers.search_box(f"{label}: search", candidates, key, pickers.add_to_selection(key))
    return tuple(
        st.multiselect(
            label,
            list(labels),
            key=key,
            format_func=lambda sid: labels.get(sid, sid),
            placeholder="None: search above",
            help=help_text,
            filter_mode=None,
        )
    )


def _save_defaults(model: InvestmentModel, controls: TradeControls) -> None:
    """Button callback: store the panel's controls as the model's defaults (role- and version-checked, audited)."""
    try:
        user = auth.require(auth.Action.EDIT_MODEL).user_id
        with audit.timed("model_saved", user, model_id=model.model_id, what="trade_controls") as fields:
            saved = resources.model_repo().set_controls(model.model_id or "", controls, model.version, user)
            fields.update(version=saved.version)
    except Exception as err:  # typed errors (VersionConflict ...) get their message, shown under the button
        st.session_state[CTRL_SAVE_ERROR] = feedback.describe(err, f"save the trade controls of “{model.name}”")
        return
    feedback.success(f"Trade controls saved as the defaults of “{saved.name}” (v{saved.version})")


def render_controls(model: InvestmentModel) -> TradeControls:
    """The trade controls of the next run, pre-filled with ``model.controls``; may be saved as the model's defaults."""
    d = model.controls
    labels = _security_labels(model)
    candidates = [Candidate(sid, *text.split(" — ", 1)) for sid, text in labels.items() if " — " in text]
    with st.container(border=True):
        st.markdown("**Trade controls**")
        c1, c2, c3 = st.columns(3)
        policy = c1.radio(
            "Rebalance",
            list(POLICY_LABELS),
            index=list(POLICY_LABELS).index(d.trade_policy),
            key=control_key(CTRL_POLICY, model),
            format_func=POLICY_LABELS.__getitem__,
            help="Out-of-band only: a security inside its band does not trade (tolerance rebalancing).",
        )
        min_trade = c2.number_input(
            "Minimum trade ($)",
            min_value=0.0,
            value=float(d.min_trade_value),
            step=100.0,
            format="%.2f",
            key=control_key(CTRL_MIN_TRADE, model),
            help="Every order is at least this value, except selling a whole position. 0 = no minimum.",
        )
        direction = c3.radio(
            "Direction",
            list(DIRECTION_LABELS),
            index=list(DIRECTION_LABELS).index(d.direction),
            key=control_key(CTRL_DIRECTION, model),
            format_func=DIRECTION_LABELS.__getitem__,
            help="Invest cash: nothing is sold. Raise cash: nothing is bought.",
        )
        r1, r2, r3 = st.columns(3)
        with r1:
            no_buy = _restricted(
                "No buy", CTRL_NO_BUY, "These securities are never bought.", model, d.no_buy, labels, candidates
            )
        with r2:
            no_sell = _restricted(
                "No sell", CTRL_NO_SELL, "These are never sold.", model, d.no_sell, labels, candidates
            )
        with r3:
            no_trade = _restricted(
                "Do not trade", CTRL_NO_TRADE, "Neither bought nor sold.", model, d.no_trade, labels, candidates
            )
        i1, i2 = st.columns([2, 1], vertical_alignment="bottom")
        on_infeasible = i1.radio(
            "If a band cannot be met",
            list(INFEASIBLE_LABELS),
            index=list(INFEASIBLE_LABELS).index(d.on_infeasible),
            key=control_key(CTRL_INFEASIBLE, model),
            format_func=INFEASIBLE_LABELS.__getitem__,
            horizontal=True,
            help="Nearest feasible: the answer that breaches the bands least, flagged as such (never a normal "
            "optimum).",
        )
        controls = TradeControls(
            trade_policy=policy,
            min_trade_value=Decimal(str(round(min_trade, 2))),
            no_buy=no_buy,
            no_sell=no_sell,
            no_trade=no_trade,
            direction=direction,
            on_infeasible=on_infeasible,
        )
        same = controls == d
        denied = auth.why_not(auth.Action.EDIT_MODEL)
        i2.button(
            "Save as model defaults",
            key=CTRL_SAVE,
            icon=":material/bookmark:",
            disabled=same or denied is not None,
            on_click=_save_defaults,
            args=(model, controls),
            help=denied
            or ("The model's defaults already" if same else "Pre-fill these controls for every run of this model."),
            width="stretch",
        )
        if msg := st.session_state.pop(CTRL_SAVE_ERROR, None):
            feedback.render(msg)
        st.caption(
            "As saved with the model."
            if same
            else "Differs from the model's saved defaults (this run only unless saved)."
        )
    return controls


__all__ = ["known_securities", "render_controls"]
