"""Models page pieces: summary tiles, the paged/sorted/filtered list, the delete dialog and the conflict panel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from components import audit, auth, feedback, resources, state
from components.models import keys as models_keys
from components.models.draft import DraftCheck, ModelDraft, draft_from_model, model_changes, rebase
from components.tables import fmt_when, names_preview, short_id
from engine.errors import EngineError, NotFound, VersionConflict
from engine.models import InvestmentModel

SORT_OPTIONS = {
    "name": "Name (A → Z)",
    "-name": "Name (Z → A)",
    "-last_rebalance_date": "Last rebalance (newest first)",
    "last_rebalance_date": "Last rebalance (oldest first)",
    "model_id": "Model ID (ascending)",
    "-model_id": "Model ID (descending)",
}
PAGE_SIZES = (10, 25, 50)


def all_models() -> list[InvestmentModel]:
    """Every stored model, in stored order."""
    return resources.model_repo().list_models()


def render_tiles(models: Sequence[InvestmentModel]) -> None:
    """Models, distinct linked portfolios and positions across all models."""
    c1, c2, c3 = st.columns(3)
    c1.metric("Models", f"{len(models):,}")
    c2.metric("Linked portfolios", f"{len({p for m in models for p in m.portfolios}):,}")
    c3.metric("Positions", f"{sum(len(m.positions) for m in models):,}")


def list_frame(models: Sequence[InvestmentModel], names: Mapping[str, str]) -> pd.DataFrame:
    """One display row per model (the portal's columns)."""
    return pd.DataFrame(
        [
            {
                "Model ID": short_id(m.model_id),
                "Name": m.name,
                "Portfolios": names_preview([names.get(p, short_id(p)) for p in m.portfolios]),
                "Positions": f"{len(m.positions)} position{'s' if len(m.positions) != 1 else ''}",
                "Last rebalance": fmt_when(m.last_rebalance_date),
                "Version": f"v{m.version}",
            }
            for m in models
        ],
        columns=["Model ID", "Name", "Portfolios", "Positions", "Last rebalance", "Version"],
    )


def _sort_ok(tokens: Sequence[str]) -> bool:
    fields = [t.lstrip("+-") for t in tokens]
    return len(fields) == len(set(fields))


def render_list(names: Mapping[str, str]) -> list[InvestmentModel]:
    """Filter, multi-key sort and page the models through the repository; render the table; return the page."""
    repo = resources.model_repo()
    reset_page = lambda: state.drop(models_keys.MODELS_PAGE)  # noqa: E731 - a new filter/sort starts at page 1
    f1, f2, f3 = st.columns([2, 3, 1])
    text = f1.text_input(
        "Filter by name", key=models_keys.MODELS_FILTER, placeholder="Part of a model name", on_change=reset_page
    )
    sort = f2.multiselect(
        "Sort by (first key first)",
        options=list(SORT_OPTIONS),
        format_func=SORT_OPTIONS.__getitem__,
        key=models_keys.MODELS_SORT,
        placeholder="Stored order",
        on_change=reset_page,
    )
    size = f3.selectbox("Rows per page", PAGE_SIZES, key=models_keys.MODELS_PAGE_SIZE, on_change=reset_page)
    if not _sort_ok(sort):
        st.warning("Pick each sort field once (ascending *or* descending).", icon=":material/sort:")
        sort = []
    sort_by = ",".join(sort) or None
    needle = text.strip() or None
    # the repository matches the filter text literally (escaped): never a pattern or query operator
    total = repo.count_models(name_contains=needle)
    pages = max(1, -(-total // size))
    page = min(int(st.session_state.get(models_keys.MODELS_PAGE) or 1), pages)
    shown = (
        repo.list_models(offset=(page - 1) * size, limit=size, sort_by=sort_by, name_contains=needle) if total else []
    )
    if not shown:
        st.info(
            "No model matches the filter." if needle else "No investment models yet — create the first one.",
            icon=":material/info:",
        )
    else:
        st.dataframe(list_frame(shown, names), hide_index=True, width="stretch")
    p1, p2 = st.columns([3, 2], vertical_alignment="center")
    if pages > 1:
        with p1:
            st.pagination(pages, default=page, key=models_keys.MODELS_PAGE)
    p2.caption(f"Page {page} of {pages} · {total:,} model(s)" if pages > 1 else f"{total:,} model(s)")
    return shown


# --- actions ------------------------------------------------------------------------------------------------------
def picker_signature(models: Sequence[InvestmentModel]) -> str:
    """What the picker lists (ids and versions): when it changes the picker is rebuilt, so its label is never stale."""
    return "|".join(f"{m.model_id}:{m.version}" for m in models)


def render_actions(models: Sequence[InvestmentModel]) -> None:
    """Pick a model among ``models`` (the rows the filtered table shows), then Edit / Drift / Rebalance / Delete it.

    The picker always shows what the buttons act on: it lists the filtered models only, and is rebuilt whenever a
    model is saved, created or deleted (a new version changes its label), defaulting to the selected model.
    """
    by_id = {m.model_id: m for m in models}
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    signature = picker_signature(models)
    current = st.session_state.get(models_keys.MODELS_OPEN_PICK)
    default = current if current in by_id else state.selected_model_id()
    default = default if default in by_id else next(iter(by_id), None)
    if st.session_state.get(models_keys.MODELS_PICK_SIGNATURE) != signature or current not in by_id:
        # set from code (not just dropped): the browser keeps a keyed selectbox's shown label otherwise ("v1" after
        # saving v2); a programmatic value makes it take the new options and value
        st.session_state[models_keys.MODELS_PICK_SIGNATURE] = signature
        if state.selected_model_id() in by_id:
            default = state.selected_model_id()
        st.session_state[models_keys.MODELS_OPEN_PICK] = default
    pick = left.selectbox(
        "Model",
        options=list(by_id),
        format_func=lambda i: f"{by_id[i].name} (v{by_id[i].version})",
        key=models_keys.MODELS_OPEN_PICK,
        placeholder="No model matches the filter" if models else "No models yet",
    )
    none = pick is None
    bar = right.container(horizontal=True, vertical_alignment="bottom", wrap=False)
    bar.button("Edit", key="models_edit", icon=":material/edit:", disabled=none, on_click=open_model, args=(pick,))
    if bar.button("Drift", key="models_drift", icon=":material/query_stats:", disabled=none):
        state.select_model(pick)
        st.switch_page("pages/drift.py")
    if bar.button("What-if rebalance", key="models_rebalance", icon=":material/balance:", disabled=none):
        state.select_model(pick)
        st.switch_page("pages/rebalance.py")
    denied = auth.why_not(auth.Action.EDIT_MODEL)
    bar.button("Delete", key="models_delete", icon=":material/delete:", disabled=none or denied is not None,
               help=denied, on_click=ask_delete, args=(by_id.get(pick),))  # fmt: skip


def _forget_model(err: Exception) -> None:
    """The way back after a model vanished: no selection, the list shows what exists now."""
    if isinstance(err, NotFound):
        state.select_model(None)
        state.drop(models_keys.MODELS_OPEN_PICK)


@feedback.callback("open the model", on_error=_forget_model)
def open_model(model_id: str) -> None:
    """Callback: load a stored model into the editor (fresh widgets)."""
    model = resources.model_repo().get_model(model_id)
    start_draft(draft_from_model(model))
    state.select_model(model_id)


def start_draft(draft: ModelDraft) -> None:
    """Put ``draft`` into the editor and reset every editor widget."""
    state.put(models_keys.MODELS_DRAFT, draft)
    state.put(models_keys.MODELS_CONFLICT, None)
    state.put(models_keys.MODELS_SAVE_ERRORS, [])
    state.put(models_keys.MODELS_IMPORT_REPORT, [])
    state.drop(models_keys.MODEL_EDITOR, models_keys.MODELS_LINK_INPUT, models_keys.MODELS_UNLINK_INPUT)
    st.session_state[models_keys.MODELS_NAME_INPUT] = draft.name


def close_draft() -> None:
    """Callback: leave the editor without saving."""
    state.put(models_keys.MODELS_DRAFT, None)
    state.put(models_keys.MODELS_CONFLICT, None)
    state.drop(models_keys.MODEL_EDITOR, models_keys.MODELS_LINK_INPUT, models_keys.MODELS_UNLINK_INPUT)


def request_close(unsaved: bool) -> None:
    """Callback of "Close editor": close at once, or ask first when the editor holds unsaved changes."""
    if unsaved:
        st.session_state[models_keys.MODELS_CONFIRM_CLOSE] = True
    else:
        close_draft()


def confirm_close() -> None:
    """The question "Close editor" asks when changes are not saved: discard them, or keep editing."""
    st.warning("The editor holds changes that are not saved. Close it and discard them?", icon=":material/warning:")
    c1, c2, _ = st.columns([1, 1, 4])
    c1.button("Discard changes", key="models_discard", on_click=_discard, type="primary", width="stretch")
    c2.button("Keep editing", key="models_keep_editing", on_click=state.drop, args=(models_keys.MODELS_CONFIRM_CLOSE,),
              width="stretch")  # fmt: skip


def _discard() -> None:
    state.drop(models_keys.MODELS_CONFIRM_CLOSE)
    close_draft()


@feedback.callback("delete the model", on_error=_forget_model)
def ask_delete(model: InvestmentModel | None) -> None:
    """Callback: open the delete confirmation for ``model``."""
    if model is None:
        raise NotFound("the model is no longer in the list", {})
    state.put(
        models_keys.MODELS_PENDING_DELETE,
        {"id": model.model_id, "name": model.name, "version": model.version, "portfolios": len(model.portfolios)},
    )


@st.dialog("Delete model", on_dismiss=lambda: state.put(models_keys.MODELS_PENDING_DELETE, None))
def confirm_delete() -> None:
    """The delete dialog (version-checked delete)."""
    pending = state.get(models_keys.MODELS_PENDING_DELETE)
    if not pending:
        return
    st.markdown(f"Delete **{feedback.escape_md(pending['name'])}** (v{pending['version']})? This cannot be undone.")
    if pending["portfolios"]:
        st.caption(f"Its {pending['portfolios']} linked portfolio(s) will no longer follow any model.")
    c1, c2 = st.columns(2)
    if c1.button("Delete", type="primary", key="models_confirm_delete", icon=":material/delete:"):
        try:
            user = auth.require(auth.Action.EDIT_MODEL).user_id
            with audit.timed("model_deleted", user, model_id=pending["id"], version=pending["version"]):
                resources.model_repo().delete_model(pending["id"], pending["version"])
        except EngineError as err:
            feedback.show(err, f"delete model '{pending['name']}'")
            return
        state.put(models_keys.MODELS_PENDING_DELETE, None)
        draft: ModelDraft | None = state.get(models_keys.MODELS_DRAFT)
        if draft is not None and draft.model_id == pending["id"]:
            close_draft()
        if state.selected_model_id() == pending["id"]:
            state.select_model(None)
        state.drop(models_keys.MODELS_OPEN_PICK)
        feedback.success(f"Model '{pending['name']}' deleted")
        st.rerun()
    if c2.button("Cancel", key="models_cancel_delete"):
        state.put(models_keys.MODELS_PENDING_DELETE, None)
        st.rerun()


@feedback.callback("keep your edits")
def _keep_mine() -> None:
    conflict, draft = state.get(models_keys.MODELS_CONFLICT), state.get(models_keys.MODELS_DRAFT)
    if conflict and draft is not None:
        draft.rows = conflict["rows"]
        draft.portfolios = list(conflict["mine"].portfolios) if conflict.get("mine") else draft.portfolios
        state.put(models_keys.MODELS_DRAFT, rebase(draft, conflict["theirs"]))
        state.put(models_keys.MODELS_CONFLICT, None)
        state.drop(models_keys.MODEL_EDITOR)


@feedback.callback("load the saved model")
def _load_theirs() -> None:
    conflict = state.get(models_keys.MODELS_CONFLICT)
    if conflict and conflict.get("theirs") is not None:
        start_draft(draft_from_model(conflict["theirs"]))


@feedback.callback("save a new model")
def _save_as_new() -> None:
    conflict, draft = state.get(models_keys.MODELS_CONFLICT), state.get(models_keys.MODELS_DRAFT)
    if conflict and draft is not None:
        draft.rows = conflict["rows"]
        draft.model_id, draft.version, draft.base, draft.last_rebalance_date = None, None, None, None
        state.put(models_keys.MODELS_CONFLICT, None)
        state.drop(models_keys.MODEL_EDITOR)


def render_conflict(draft: ModelDraft, ticker_of: Mapping[str, str]) -> None:
    """After a lost version race: say so, show their changes and yours, let the user choose."""
    conflict = state.get(models_keys.MODELS_CONFLICT)
    if not conflict:
        return
    theirs: InvestmentModel | None = conflict.get("theirs")
    if theirs is None:
        st.error(
            "**This model was deleted by someone else while you edited it.** Your edits are still in the "
            "editor: download them as CSV, or save them as a new model.",
            icon=":material/sync_problem:",
        )
        st.button("Save my edits as a new model", key="models_conflict_new", on_click=_save_as_new)
        return
    st.warning(
        f"**Someone else saved this model first** — it is now v{theirs.version}; you started from v{draft.version}. "
        "Your edits are **not saved** and are still in the editor below.",
        icon=":material/sync_problem:",
    )
    base, mine = draft.base, conflict.get("mine")
    c1, c2 = st.columns(2)
    for col, title, after in ((c1, "Their changes", theirs), (c2, "Your changes", mine)):
        changes = model_changes(base, after, ticker_of) if base is not None and after is not None else []
        col.markdown(f"**{title}** (compared with v{draft.version})")
        col.dataframe(
            pd.DataFrame(changes or [{"What": "(none)", "Before": "", "After": ""}]), hide_index=True, width="stretch"
        )
    b1, b2 = st.columns(2)
    b1.button(
        "Keep my edits on top of their version",
        key="models_conflict_keep",
        icon=":material/merge:",
        on_click=_keep_mine,
        help="Your edits stay in the editor; the next save replaces their version.",
    )
    b2.button(
        "Discard my edits and load their version",
        key="models_conflict_reload",
        icon=":material/refresh:",
        on_click=_load_theirs,
    )


# --- save ---------------------------------------------------------------------------------------------------------
def save_draft(
    draft: ModelDraft, name: str, rows: list[dict[str, Any]], check: DraftCheck, names: Mapping[str, str]
) -> None:
    """Create or replace the model (version-checked); on a lost race keep the edits and open the conflict panel."""
    label = name.strip() or "(unnamed)"
    if not check.ok:
        blocking = sum(1 for i in check.issues if i.blocking)
        st.error(
            f"Not saved: {blocking} rule(s) are broken — see the list under the positions.", icon=":material/block:"
        )
        return
    repo = resources.model_repo()
    try:
        user = auth.require(auth.Action.EDIT_MODEL).user_id
        with audit.timed("model_saved", user, model_id=draft.model_id, new=draft.is_new) as fields:
            if draft.is_new:
                saved = repo.create_model(name.strip(), list(check.positions), list(draft.portfolios), user)
            else:
                saved = repo.replace_model(
                    draft.model_id,
                    name.strip(),
                    list(check.positions),
                    list(draft.portfolios),
                    draft.last_rebalance_date,
                    draft.version,
                    updated_by=user,
                )
            fields.update(model_id=saved.model_id, version=saved.version, positions=len(saved.positions))
    except VersionConflict:
        _open_conflict(draft, name, rows, check)
        st.rerun()
    except NotFound:
        state.put(models_keys.MODELS_CONFLICT, {"theirs": None, "mine": None, "rows": rows})
        st.rerun()
    except EngineError as err:
        owners = err.details.get("owners") if err.details.get("rule") == "one_model_per_portfolio" else None
        if owners:
            feedback.render(owner_message(label, owners, names))
        else:
            feedback.show(err, f"save model '{label}'")
        return
    state.put(models_keys.MODELS_DRAFT, draft_from_model(saved))
    state.put(models_keys.MODELS_CONFLICT, None)
    # the model picker follows the saved model (a dropped widget key re-initialises from the selection)
    state.drop(
        models_keys.MODEL_EDITOR,
        models_keys.MODELS_LINK_INPUT,
        models_keys.MODELS_UNLINK_INPUT,
        models_keys.MODELS_OPEN_PICK,
    )
    state.select_model(saved.model_id)
    feedback.success(f"Model '{saved.name}' saved (v{saved.version})")
    st.rerun()


def _open_conflict(draft: ModelDraft, name: str, rows: list[dict[str, Any]], check: DraftCheck) -> None:
    try:
        theirs = resources.model_repo().get_model(draft.model_id)
    except NotFound:
        theirs = None
    mine = InvestmentModel(
        model_id=draft.model_id,
        name=name.strip() or draft.name,
        positions=check.positions,
        portfolios=tuple(draft.portfolios),
        version=draft.version or 1,
    )
    draft.rows = rows
    state.drop(models_keys.MODEL_EDITOR)
    state.put(models_keys.MODELS_CONFLICT, {"theirs": theirs, "mine": mine, "rows": rows})


def owner_message(label: str, owners: Mapping[str, str], names: Mapping[str, str]) -> feedback.Message:
    """The "one model per portfolio" refusal, by portfolio name."""
    bullets = [f"Portfolio '{names.get(p, p)}' already follows model '{m}'." for p, m in list(owners.items())[:10]]
    if len(owners) > 10:
        bullets.append(f"… and {len(owners) - 10} more.")
    bullets.append(
        "A portfolio follows at most one investment model, so a rebalance always knows its targets. "
        "Unlink these portfolios from the other model first, or unlink them here (Portfolios tab)."
    )
    return feedback.Message(
        "error", f"Could not save model '{label}': {len(owners)} portfolio(s) follow another model.", bullets
    )
