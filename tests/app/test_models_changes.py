"""The model editor's change views (issue 14 items 3 and 6), AppTest against the seeded demo models: unsaved
changes counted at the top with before → after, the ranked "Add security" and portfolio searches, the open tab kept,
and the version history with who, when and the diff of each version."""

from __future__ import annotations

from decimal import Decimal

from components.models import keys as models_keys
from data.demo import load_demo
from engine.validation import format_percent
from tests.app.support import model_id, no_exception, open_model, texts

DEMO = load_demo()
MODEL = "Technology Leaders"


def edits(edited: dict | None = None) -> dict:
    return {"edited_rows": edited or {}, "added_rows": [], "deleted_rows": []}


def pending(at) -> list[str]:
    return [e.label for e in at.expander if "unsaved change" in e.label]


def changes_table(at):
    return next(df.value for df in at.dataframe if list(df.value.columns) == ["What", "Before", "After"])


def test_unsaved_changes_are_counted_at_the_top_with_before_and_after(at, repo):
    open_model(at, repo, MODEL)
    assert "No unsaved changes." in texts(at, "caption") and not pending(at)
    grid = at.data_editor[0].value
    sid = grid.iloc[0]["security_id"]
    ticker = next(s.ticker for s in DEMO.securities if s.security_id == sid)
    before = repo().get_model(model_id(repo, MODEL)).position_map()[sid].target
    at.session_state[models_keys.MODEL_EDITOR] = edits({0: {"target": format(before * 100 + 1, "f")}})
    at.run()
    assert pending(at) == ["1 unsaved change"]
    table = changes_table(at)
    assert table.iloc[0]["What"] == f"{ticker} target"
    assert (table.iloc[0]["Before"], table.iloc[0]["After"]) == (
        format_percent(before),
        format_percent(before + Decimal("0.01")),
    )


def test_add_security_search_ms_adds_morgan_stanley_and_counts_it(at, repo):
    open_model(at, repo, MODEL)
    rows_before = len(at.data_editor[0].value)
    at.text_input(key=f"{models_keys.MODELS_ADD_SECURITY}_search").input("MS").run()
    assert no_exception(at)
    grid = at.data_editor[0].value
    assert len(grid) == rows_before + 1 and grid.iloc[-1]["security"] == "MS — Morgan Stanley"
    assert grid.iloc[-1]["changed"] == "✎ new"
    assert pending(at) == ["1 unsaved change"] and changes_table(at).iloc[0]["What"] == "Added MS"
    # the same ticker again adds no second row
    at.text_input(key=f"{models_keys.MODELS_ADD_SECURITY}_search").input("ms").run()
    assert len(at.data_editor[0].value) == rows_before + 1


def test_linking_by_search_keeps_the_portfolios_tab_and_shows_the_change(at, repo):
    open_model(at, repo, MODEL)
    owned = {p for m in repo().list_models() for p in m.portfolios}
    free = next(p for p in DEMO.portfolios if p.portfolio_id not in owned)
    at.text_input(key=f"{models_keys.MODELS_LINK_SEARCH}_search").input(free.name).run()
    assert no_exception(at)
    table = changes_table(at)
    assert ("Portfolio linked", free.name) in set(zip(table["What"], table["After"], strict=True))
    assert [t.label for t in at.tabs][:3] == ["Positions", "Portfolios", "Import / export CSV"]  # labels never move


def test_version_history_lists_who_when_and_what_changed(at, repo):
    open_model(at, repo, MODEL)
    sid = at.data_editor[0].value.iloc[0]["security_id"]
    before = repo().get_model(model_id(repo, MODEL)).position_map()[sid].target
    at.session_state[models_keys.MODEL_EDITOR] = edits({0: {"target": format(before * 100 - Decimal("0.5"), "f")}})
    at.button(key="models_save").click().run()
    assert no_exception(at)
    history = next(e for e in at.expander if e.label.startswith("Version history"))
    lines = [m.value for m in history.markdown]
    assert lines[0].startswith("**v2** ·") and lines[0].endswith("by local") and lines[1].startswith("**v1** ·")
    diff = history.dataframe[0].value
    assert diff.iloc[0]["Before"].startswith(f"target {float(before) * 100:.2f} %".replace(".00 %", " %"))
    assert "Created." in [c.value for c in history.caption]
    assert pending(at) == []  # saved: nothing pending


def test_a_model_older_than_the_history_says_where_its_history_starts(at, repo):
    from components import resources

    mid = model_id(repo, MODEL)
    resources.mongo_db()["modelVersions"].delete_many({"modelId": mid})  # saved before version history existed
    open_model(at, repo, MODEL)
    history = next(e for e in at.expander if e.label.startswith("Version history"))
    assert "History starts at version 2: v1 and earlier were saved before version history existed." in [
        c.value for c in history.caption
    ]
    sid = at.data_editor[0].value.iloc[0]["security_id"]
    before = repo().get_model(mid).position_map()[sid].target
    at.session_state[models_keys.MODEL_EDITOR] = edits({0: {"target": format(before * 100 - Decimal("0.5"), "f")}})
    at.button(key="models_save").click().run()
    history = next(e for e in at.expander if e.label.startswith("Version history"))
    assert history.markdown[0].value.startswith("**v2** ·")
    assert "History starts at version 2: earlier versions were saved before version history existed." in [
        c.value for c in history.caption
    ]
