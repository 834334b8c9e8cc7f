"""Models page in AppTest: empty database, list (filter, sort, paging), create, validation, edit, version conflicts,
delete, portfolio linking and a service failure. Edits of the positions grid are seeded through session state."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from components import resources
from components.models import keys as models_keys
from components.models.draft import check_rows, fold_delta
from components.models.editor import SecurityIndex, _column_config, editor_frame
from data.demo import load_demo
from engine.models import Position
from engine.validation import format_percent
from tests.app.support import clear_faults, inject_fault, model_id, no_exception, open_model, texts

DEMO = load_demo()


def label(ticker: str) -> str:
    """The grid's security label of ``ticker`` ("AAPL — Apple Inc.")."""
    s = DEMO.securities_by_ticker[ticker]
    return f"{s.ticker} — {s.description}"


def row(ticker: str, target: float, low: float = 0.05, high: float = 0.05) -> dict:
    return {"security": label(ticker), "target": target, "low_drift": low, "high_drift": high}


def edits(edited: dict | None = None, added: list | None = None, deleted: list | None = None) -> dict:
    return {"edited_rows": edited or {}, "added_rows": added or [], "deleted_rows": deleted or []}


def all_text(at) -> str:
    return "\n".join(texts(at, "error") + texts(at, "warning") + texts(at, "info"))


# --- empty database and the list ---------------------------------------------------------------------------------
def test_empty_database_shows_zero_tiles_and_invites_to_create(empty_at):
    at = empty_at
    assert no_exception(at)
    assert [m.value for m in at.metric] == ["0", "0", "0"]
    assert any("No investment models yet" in t for t in texts(at, "info"))
    assert at.button(key="models_edit").disabled and at.button(key="models_delete").disabled
    at.button(key="models_new").click().run()
    assert at.subheader[0].value == "New model"
    assert at.text_input(key=models_keys.MODELS_NAME_INPUT).value == ""
    assert len(at.data_editor[0].value) == 0


def test_tiles_and_list_show_the_demo_models(at):
    assert no_exception(at)
    linked = {p for m in DEMO.models for p in m.portfolios}
    assert [m.value for m in at.metric] == [
        str(len(DEMO.models)),
        f"{len(linked):,}",
        str(sum(len(m.positions) for m in DEMO.models)),
    ]
    table = at.dataframe[0].value
    assert set(table["Name"]) == {m.name for m in DEMO.models}
    core = table[table["Name"] == "Global Equity Core"].iloc[0]
    assert core["Portfolios"].endswith("+998 more") and core["Positions"] == "30 positions"
    assert core["Version"] == "v1" and core["Model ID"].count("…") == 1


def test_name_filter_and_multi_key_sort(at):
    at.text_input(key=models_keys.MODELS_FILTER).input("INCOME").run()
    assert at.dataframe[0].value["Name"].tolist() == ["Dividend Income"]
    at.text_input(key=models_keys.MODELS_FILTER).input("").run()
    at.multiselect(key=models_keys.MODELS_SORT).set_value(["-name"]).run()
    names = at.dataframe[0].value["Name"].tolist()
    assert names == sorted(names, reverse=True)
    # the same field twice is refused with a hint, and the list falls back to the stored order
    at.multiselect(key=models_keys.MODELS_SORT).set_value(["-name", "name"]).run()
    assert any("each sort field once" in t for t in texts(at, "warning"))
    assert no_exception(at)


def test_paging_splits_the_list(at, repo):
    for i in range(6):  # 6 demo + 6 = 12 models: two pages of 10
        repo().create_model(f"Paging {i:02d}", [], [])
    at.run()
    at.multiselect(key=models_keys.MODELS_SORT).set_value(["name"]).run()
    first = at.dataframe[0].value["Name"].tolist()
    assert len(first) == 10 and any("Page 1 of 2" in c for c in texts(at, "caption"))
    at.get("pagination")[0].set_value(2).run()
    second = at.dataframe[0].value["Name"].tolist()
    assert len(second) == 2 and not set(first) & set(second)
    assert first + second == sorted(first + second)


# --- create and validate ------------------------------------------------------------------------------------------
def test_create_a_model_with_positions_picked_by_ticker(at, repo):
    at.button(key="models_new").click().run()
    at.text_input(key=models_keys.MODELS_NAME_INPUT).input("Quality Tilt").run()
    at.session_state[models_keys.MODEL_EDITOR] = edits(added=[row("AAPL", 0.4, 0.02, 0.03), row("MSFT", 0.25)])
    at.run()
    assert [m.value for m in at.metric][3:5] == ["65.0 %", "35.0 %"]  # Σ targets and implied cash, live
    at.button(key="models_save").click().run()
    assert no_exception(at)
    assert "Model 'Quality Tilt' saved (v1)" in texts(at, "toast")
    (saved,) = repo().list_models(offset=0, limit=5, name_contains="Quality Tilt")
    by_id = saved.position_map()
    aapl, msft = DEMO.securities_by_ticker["AAPL"].security_id, DEMO.securities_by_ticker["MSFT"].security_id
    assert by_id[aapl] == Position(
        security_id=aapl, target=Decimal("0.4"), low_drift=Decimal("0.02"), high_drift=Decimal("0.03")
    )
    assert by_id[msft].target == Decimal("0.25") and saved.version == 1
    assert at.subheader[0].value == "Edit model · v1"  # the editor now holds the stored model
    assert "Quality Tilt" in at.dataframe[0].value["Name"].tolist()


def test_every_broken_rule_is_listed_with_its_row_and_nothing_is_saved(at, repo):
    before = repo().count_models()
    at.button(key="models_new").click().run()
    at.session_state[models_keys.MODEL_EDITOR] = edits(
        added=[
            row("AAPL", 0.6),
            row("MSFT", 0.013),
            row("AAPL", 0.3),
            {"security": label("NVDA"), "target": None, "low_drift": 0.05, "high_drift": 0.05},
        ]
    )
    at.run()
    (problems,) = [e for e in texts(at, "error") if "rule(s) broken" in e]
    assert "model name is required" in problems
    assert "Row 2 (MSFT): target 1.3 % is not a multiple of 0.5 %: use 1.0 % or 1.5 %" in problems
    assert "Row 3 (AAPL): duplicate: this security is already in row 1" in problems
    assert "Row 4 (NVDA): fill in target" in problems
    assert "targets sum to 91.3 %" not in problems  # 0.913 is under the cap: only real violations are listed
    at.session_state[models_keys.MODEL_EDITOR] = edits(
        added=[row("AAPL", 0.6), row("MSFT", 0.4)]  # Σ 100 % > 95 %
    )
    at.text_input(key=models_keys.MODELS_NAME_INPUT).input("Too Much").run()
    at.button(key="models_save").click().run()
    errors = "\n".join(texts(at, "error"))
    assert "targets sum to 100.0 %; at most 95 %" in errors
    assert "Not saved: 1 rule(s) are broken" in errors
    assert repo().count_models() == before and no_exception(at)


def test_weights_are_typed_as_percents_and_out_of_range_is_refused_never_clamped(at, repo):
    """Issue 14 items 1-2: "3.5", "3.5%" and "0.035" are all 3.5 %; 120 is refused with the reason; 0.0333 gets
    the nearest valid targets; the column help states the rule."""
    at.button(key="models_new").click().run()
    at.text_input(key=models_keys.MODELS_NAME_INPUT).input("Typed Percents").run()
    typed = [
        {"security": label("AAPL"), "target": "3.5", "low_drift": "1", "high_drift": "2 %"},
        {"security": label("MSFT"), "target": "3.5%", "low_drift": "0.01", "high_drift": "5"},
        {"security": label("NVDA"), "target": "0.035", "low_drift": "5", "high_drift": "5"},
    ]
    at.session_state[models_keys.MODEL_EDITOR] = edits(added=typed)
    at.run()
    assert next(m.value for m in at.metric if m.label.startswith("Σ targets")) == "10.5 %"  # 3 × 3.5 %
    assert "All model rules pass" in "\n".join(texts(at, "success"))
    at.button(key="models_save").click().run()
    (saved,) = repo().list_models(offset=0, limit=5, name_contains="Typed Percents")
    assert {p.target for p in saved.positions} == {Decimal("0.035")}
    assert {p.low_drift for p in saved.positions} == {Decimal("0.01"), Decimal("0.05")}

    at.session_state[models_keys.MODEL_EDITOR] = edits({0: {"target": "120"}, 1: {"target": "0.0333"}})
    at.run()
    (problems,) = [e for e in texts(at, "error") if "rule(s) broken" in e]
    assert "Row 1 (AAPL): target '120' is 120.0 %: it must be between 0 % and 95.0 %" in problems
    assert "Row 2 (MSFT): target 3.33 % is not a multiple of 0.5 %: use 3.0 % or 3.5 %" in problems
    at.button(key="models_save").click().run()
    assert repo().get_model(saved.model_id).version == 1  # nothing refused was saved


def test_a_low_drift_above_the_target_is_explained_in_percent(at):
    """Issue 14 item 5: not a silent band from 0 %, and no fractions in the note."""
    at.button(key="models_new").click().run()
    at.session_state[models_keys.MODEL_EDITOR] = edits(
        added=[{"security": label("AAPL"), "target": "2", "low_drift": "3", "high_drift": "5"}]
    )
    at.run()
    assert "Row 1 (AAPL): low drift 3.0 % is above the target 2.0 %: the band starts at 0 %" in texts(at, "info")[-1]


def test_the_weight_columns_state_the_percent_rule():
    index = SecurityIndex(pd.DataFrame(columns=["label", "security_id", "ticker", "description"]))
    config = _column_config(index, [])
    for col in ("target", "low_drift", "high_drift"):
        assert "3.5 or 3.5 % means 3.5 %" in config[col]["help"]


def test_the_grid_shows_typed_weights_as_percents_and_keeps_refused_text_as_typed():
    rows = fold_delta(
        [{"security_id": "a" * 24, "target": 0.4, "low_drift": 0.05, "high_drift": 1.0}],
        edits({0: {"target": "3.5"}}, added=[{"target": "120", "low_drift": "0.0333", "high_drift": "x"}]),
        {},
    )
    assert rows[0]["target"] == Decimal("0.035") and rows[0]["high_drift"] == Decimal("1")
    assert rows[1]["target"] == "120" and rows[1]["low_drift"] == Decimal("0.0333") and rows[1]["high_drift"] == "x"
    index = SecurityIndex(pd.DataFrame(columns=["label", "security_id", "ticker", "description"]))
    shown = editor_frame(rows, index, check_rows("m", rows))
    assert shown["target"].tolist() == ["3.5 %", "120"]
    assert shown["low_drift"].tolist() == ["5.0 %", "3.33 %"]
    assert shown["high_drift"].tolist() == ["100.0 %", "x"]


def test_a_duplicate_name_is_refused_with_a_clear_message(at, repo):
    at.button(key="models_new").click().run()
    at.text_input(key=models_keys.MODELS_NAME_INPUT).input("Dividend Income").run()
    at.button(key="models_save").click().run()
    errors = "\n".join(texts(at, "error"))
    assert "Could not save model 'Dividend Income'" in errors and "Model names are unique" in errors
    assert no_exception(at)


# --- edit and version conflicts ---------------------------------------------------------------------------------
def test_edit_a_target_and_save_bumps_the_version(at, repo):
    open_model(at, repo, "Technology Leaders")
    assert at.text_input(key=models_keys.MODELS_NAME_INPUT).value == "Technology Leaders"
    grid = at.data_editor[0].value
    first = grid.iloc[0]
    before = repo().get_model(model_id(repo, "Technology Leaders")).position_map()[first["security_id"]].target
    typed = format(before * 100 - Decimal("0.5"), "f")  # a PM types a percent without the sign: "24.5" is 24.5 %
    at.session_state[models_keys.MODEL_EDITOR] = edits({0: {"target": typed}})
    at.button(key="models_save").click().run()
    assert "Model 'Technology Leaders' saved (v2)" in texts(at, "toast")
    stored = repo().get_model(model_id(repo, "Technology Leaders"))
    assert stored.version == 2
    assert stored.position_map()[first["security_id"]].target == before - Decimal("0.005")


def test_version_conflict_keeps_my_edits_shows_both_changes_and_saves_on_top(at, repo):
    open_model(at, repo, "Technology Leaders")
    mid = model_id(repo, "Technology Leaders")
    grid = at.data_editor[0].value
    mine_sid, their_sid = grid.iloc[0]["security_id"], grid.iloc[1]["security_id"]
    at.session_state[models_keys.MODEL_EDITOR] = edits({0: {"target": 0.005}})
    at.run()
    # another user saves first: changes the second position's target
    theirs = repo().get_model(mid)
    changed = [
        p.model_copy(update={"target": Decimal("0.01")}) if p.security_id == their_sid else p for p in theirs.positions
    ]
    repo().replace_model(mid, theirs.name, changed, theirs.portfolios, theirs.last_rebalance_date, theirs.version)
    at.button(key="models_save").click().run()
    assert no_exception(at)
    assert any("Someone else saved this model first" in w and "now v2" in w for w in texts(at, "warning"))
    their_table, my_table = at.dataframe[1].value, at.dataframe[2].value
    ticker = {s.security_id: s.ticker for s in DEMO.securities}
    assert their_table["What"].tolist() == [f"Position {ticker[their_sid]}"]
    assert my_table["What"].tolist() == [f"Position {ticker[mine_sid]}"]
    assert repo().get_model(mid).version == 2  # nothing of mine was written
    at.button(key="models_conflict_keep").click().run()
    assert at.subheader[0].value == "Edit model · v2"
    assert at.data_editor[0].value.iloc[0]["target"] == "0.5 %"  # my edit is still in the grid
    at.button(key="models_save").click().run()
    stored = repo().get_model(mid)
    assert stored.version == 3 and stored.position_map()[mine_sid].target == Decimal("0.005")
    # "keep mine" saves my whole version: their change to the other position is overwritten, as the panel said
    assert stored.position_map()[their_sid].target == theirs.position_map()[their_sid].target


def test_version_conflict_reload_takes_their_version(at, repo):
    open_model(at, repo, "Dividend Income")
    mid = model_id(repo, "Dividend Income")
    at.session_state[models_keys.MODEL_EDITOR] = edits({0: {"target": 0.005}})
    theirs = repo().get_model(mid)
    repo().replace_model(mid, "Dividend Income II", theirs.positions, theirs.portfolios, None, theirs.version)
    at.button(key="models_save").click().run()
    assert at.dataframe[1].value["What"].tolist() == ["Name"]
    at.button(key="models_conflict_reload").click().run()
    assert at.subheader[0].value == "Edit model · v2"
    assert at.text_input(key=models_keys.MODELS_NAME_INPUT).value == "Dividend Income II"
    assert at.data_editor[0].value.iloc[0]["target"] == format_percent(theirs.positions[0].target)
    assert not any("Someone else" in w for w in texts(at, "warning"))


def test_model_deleted_by_someone_else_while_editing(at, repo):
    open_model(at, repo, "Edge Case Lab")
    mid = model_id(repo, "Edge Case Lab")
    repo().delete_model(mid, repo().get_model(mid).version)
    at.button(key="models_save").click().run()
    assert any("deleted by someone else" in e for e in texts(at, "error"))
    at.button(key="models_conflict_new").click().run()
    assert at.subheader[0].value == "New model"
    at.button(key="models_save").click().run()
    assert "Model 'Edge Case Lab' saved (v1)" in texts(at, "toast")
    assert model_id(repo, "Edge Case Lab") != mid


# --- delete -------------------------------------------------------------------------------------------------------
def test_delete_asks_for_confirmation_then_deletes(at, repo):
    mid = model_id(repo, "Balanced Value")
    at.selectbox(key=models_keys.MODELS_OPEN_PICK).set_value(mid).run()
    at.button(key="models_delete").click().run()
    assert any("Balanced Value" in m.value and "cannot be undone" in m.value for m in at.markdown)
    at.button(key="models_cancel_delete").click().run()
    assert repo().count_models() == len(DEMO.models)
    at.button(key="models_delete").click().run()
    at.button(key="models_confirm_delete").click().run()
    assert "Model 'Balanced Value' deleted" in texts(at, "toast")
    assert repo().count_models() == len(DEMO.models) - 1
    assert "Balanced Value" not in at.dataframe[0].value["Name"].tolist()


def test_delete_is_version_checked(at, repo):
    mid = model_id(repo, "Balanced Value")
    at.selectbox(key=models_keys.MODELS_OPEN_PICK).set_value(mid).run()
    at.button(key="models_delete").click().run()
    m = repo().get_model(mid)
    repo().replace_model(mid, m.name, m.positions[1:], m.portfolios, None, m.version)  # someone edits meanwhile
    at.button(key="models_confirm_delete").click().run()
    assert any("someone else changed it first" in w for w in texts(at, "warning"))
    assert repo().get_model(mid).version == 2 and no_exception(at)


# --- portfolios ---------------------------------------------------------------------------------------------------
def test_linking_a_portfolio_of_another_model_is_explained_and_refused(at, repo):
    open_model(at, repo, "Technology Leaders")
    other = DEMO.model("Dividend Income").portfolios[0]
    name = next(p.name for p in DEMO.portfolios if p.portfolio_id == other)
    at.multiselect(key=models_keys.MODELS_LINK_INPUT).set_value([other]).run()
    assert any(f"'{name}' (follows 'Dividend Income')" in w for w in texts(at, "warning"))
    at.button(key="models_save").click().run()
    errors = "\n".join(texts(at, "error"))
    assert f"Portfolio '{name}' already follows model 'Dividend Income'" in errors
    assert "at most one investment model" in errors
    at.multiselect(key=models_keys.MODELS_UNLINK_INPUT).set_value([other]).run()
    free = DEMO.unassigned_portfolio_ids[0]
    at.multiselect(key=models_keys.MODELS_LINK_INPUT).set_value([free]).run()
    at.button(key="models_save").click().run()
    stored = repo().get_model(model_id(repo, "Technology Leaders"))
    assert free in stored.portfolios and other not in stored.portfolios and stored.version == 2


# --- failures -----------------------------------------------------------------------------------------------------
def test_security_service_down_gives_a_human_message_not_a_traceback(at, repo, simulator):
    inject_fault(simulator, kind="error", service="security", status=503)
    open_model(at, repo, "Technology Leaders")
    text = all_text(at)
    assert "Could not load the securities: the Security service is not answering" in text
    assert no_exception(at) and "Traceback" not in text
    clear_faults(simulator)
    resources.securities.clear()
    at.run()
    assert len(at.data_editor) == 1


def test_unexpected_errors_become_a_generic_message(at, monkeypatch):
    def boom():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(resources, "model_repo", boom)
    at.run()
    text = all_text(at)
    assert "Could not load the investment models: something unexpected went wrong" in text
    assert "secret internals" not in text and no_exception(at)


def test_the_model_picker_follows_a_saved_model(at, repo):
    at.button(key="models_new").click().run()
    at.text_input(key=models_keys.MODELS_NAME_INPUT).input("Picker Check").run()
    at.button(key="models_save").click().run()
    assert at.selectbox(key=models_keys.MODELS_OPEN_PICK).value == model_id(repo, "Picker Check")


def test_the_model_picker_follows_the_table_filter_and_new_versions(at, repo):
    """Issue 14 item 4: the picker beside Edit/Delete always shows what the buttons act on."""
    at.text_input(key=models_keys.MODELS_FILTER).input("Dividend").run()
    picker = at.selectbox(key=models_keys.MODELS_OPEN_PICK)
    assert picker.options == ["Dividend Income (v1)"] and picker.value == model_id(repo, "Dividend Income")
    at.button(key="models_edit").click().run()
    at.session_state[models_keys.MODEL_EDITOR] = edits({0: {"low_drift": "1 %"}})
    at.button(key="models_save").click().run()
    assert at.selectbox(key=models_keys.MODELS_OPEN_PICK).options == ["Dividend Income (v2)"]
    at.text_input(key=models_keys.MODELS_FILTER).input("no such model").run()
    picker = at.selectbox(key=models_keys.MODELS_OPEN_PICK)
    assert picker.options == [] and picker.value is None and at.button(key="models_edit").disabled


def test_close_editor_with_unsaved_changes_asks_first(at, repo):
    """Issue 14 item 6 (part): closing the editor never drops unsaved edits silently."""
    open_model(at, repo, "Dividend Income")
    at.button(key="models_close").click().run()
    assert at.session_state[models_keys.MODELS_DRAFT] is None  # nothing changed: closes at once
    open_model(at, repo, "Dividend Income")
    at.session_state[models_keys.MODEL_EDITOR] = edits({0: {"high_drift": "9"}})
    at.run()
    at.button(key="models_close").click().run()
    assert any("changes that are not saved" in w for w in texts(at, "warning"))
    at.button(key="models_keep_editing").click().run()
    assert at.session_state[models_keys.MODELS_DRAFT] is not None
    at.button(key="models_close").click().run()
    at.button(key="models_discard").click().run()
    assert at.session_state[models_keys.MODELS_DRAFT] is None
    assert repo().get_model(model_id(repo, "Dividend Income")).version == 1
