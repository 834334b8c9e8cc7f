"""Investment models: list, create, edit (positions, portfolios, CSV), delete — every save version-checked."""

import streamlit as st

from components import auth, feedback, navigation, resources, state
from components.models import changes as models_changes
from components.models import keys as models_keys
from components.models import view as models_view
from components.models.draft import ModelDraft, draft_changes, has_unsaved_changes
from components.models.editor import SecurityIndex, render_csv, render_portfolios, render_positions

navigation.ensure_app_shell()  # a first-request deep link ran this script alone: rerun through app.py

head, new = st.columns([5, 1], vertical_alignment="bottom")
head.title("Investment models")
head.caption("Target weights with drift bands per security, linked to the portfolios that follow them.")
denied = auth.why_not(auth.Action.EDIT_MODEL)  # None when the user may change models
new.button("New model", key="models_new", icon=":material/add:", type="primary", width="stretch",
           on_click=models_view.start_draft, args=(ModelDraft(),),
           disabled=denied is not None, help=denied)  # fmt: skip

with feedback.guard("load the investment models"):
    models = models_view.all_models()
names = resources.portfolio_names()

models_view.render_tiles(models)
shown = models_view.render_list(names)

models_view.render_actions(shown)
if state.get(models_keys.MODELS_PENDING_DELETE):
    models_view.confirm_delete()

draft: ModelDraft | None = state.get(models_keys.MODELS_DRAFT)
if draft is not None:
    st.divider()
    title = "New model" if draft.is_new else f"Edit model · v{draft.version}"
    st.subheader(title, anchor=False)
    if draft.base is not None and draft.base.updated_by:
        st.caption(f"Last changed by {feedback.escape_md(draft.base.updated_by)}")
    with feedback.guard("load the securities"):
        index = SecurityIndex(resources.securities())
    models_view.render_conflict(draft, index.ticker_of)
    n1, n2 = st.columns([3, 2])
    name = n1.text_input(
        "Model name", key=models_keys.MODELS_NAME_INPUT, max_chars=255, placeholder="e.g. Balanced 60/40"
    )
    if not draft.is_new:
        n2.text_input("Model ID", value=draft.model_id, disabled=True)
    owner_of = {p: m.name for m in models if m.model_id != draft.model_id for p in m.portfolios}
    pending = st.container()  # filled once the grid returned its rows: the changes show above the tabs
    # fixed labels and a key: a rerun (link, unlink, add) keeps the open tab
    t1, t2, t3 = st.tabs(["Positions", "Portfolios", "Import / export CSV"], key=models_keys.MODELS_TAB)
    with t1:
        rows, check = render_positions(draft, index, name)
    with t2:
        render_portfolios(draft, names, owner_of)
    with t3:
        render_csv(draft, rows, index)
    with pending:
        models_changes.render_pending(draft_changes(draft, name, rows, index.ticker_of, names))
    s1, s2, _ = st.columns([1, 1, 4])
    save = s1.button("Save model", key="models_save", type="primary", icon=":material/save:", width="stretch",
                     disabled=denied is not None, help=denied)  # fmt: skip
    unsaved = has_unsaved_changes(draft, name, rows)
    s2.button("Close editor", key="models_close", on_click=models_view.request_close, args=(unsaved,), width="stretch")
    if unsaved and state.get(models_keys.MODELS_CONFIRM_CLOSE):
        models_view.confirm_close()
    if save:
        models_view.save_draft(draft, name, rows, check, names)
    if draft.model_id is not None:
        models_changes.render_history(draft.model_id, draft.version, index.ticker_of)
