"""Hostile-input findings of issue #13 in the app: callback errors, user text as markdown, unknown securities, the
exact Σ-targets verdict, and catch-alls that never show a traceback."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import feedback
from components.models import keys as models_keys
from components.models.draft import check_rows
from components.rebalance import keys as rebalance_keys
from engine.errors import ServiceUnavailable
from engine.models import Position
from tests.app.support import (
    model_id,
    models_by_name,
    no_exception,
    open_model,
    open_page,
    run_whatif,
    scenarios,
    texts,
)

HOSTILE_NAME = "**bold** [x](http://evil.example)"


def pos(security_id: str, target: str) -> Position:
    return Position(
        security_id=security_id, target=Decimal(target), low_drift=Decimal("0.05"), high_drift=Decimal("0.05")
    )


def test_edit_on_a_model_deleted_meanwhile_says_it_no_longer_exists_with_a_way_back(at, repo):
    mid = model_id(repo, "Technology Leaders")
    at.selectbox(key=models_keys.MODELS_OPEN_PICK).set_value(mid).run()
    m = repo().get_model(mid)
    repo().delete_model(mid, m.version)  # someone else deletes it while the picker still shows it
    at.button(key="models_edit").click().run()
    assert no_exception(at), [e.value for e in at.exception]
    warnings = texts(at, "warning")
    assert any("it no longer exists" in w for w in warnings), warnings
    assert at.session_state[models_keys.MODELS_DRAFT] is None  # no editor on a ghost
    at.run()  # the way back: the list without it, nothing pending
    assert no_exception(at) and not texts(at, "warning")
    assert "Technology Leaders" not in list(at.dataframe[0].value["Name"])


def test_a_model_name_with_markdown_is_shown_literally_in_toasts_and_dialogs(at, repo):
    m = repo().create_model(HOSTILE_NAME, [], [])
    at.run()
    open_model(at, repo, "bold")
    at.button(key="models_save").click().run()
    toast = [t for t in texts(at, "toast") if "saved" in t]
    assert toast and "\\*\\*bold\\*\\* \\[x\\](http://evil.example)" in toast[0], toast
    at.selectbox(key=models_keys.MODELS_OPEN_PICK).set_value(m.model_id).run()
    at.button(key="models_delete").click().run()
    dialog = " ".join(str(x.value) for x in at.markdown)
    assert "\\*\\*bold\\*\\*" in dialog and "](http" not in dialog.replace("\\](http", "")
    assert no_exception(at)


def test_escape_md_makes_links_and_emphasis_literal():
    assert feedback.escape_md(HOSTILE_NAME) == "\\*\\*bold\\*\\* \\[x\\](http://evil.example)"


def test_an_unknown_model_security_shows_its_id_and_fails_the_check(at, repo):
    ghost = "f" * 24
    m = repo().create_model("Ghost holder", [pos(ghost, "0.5")], [])
    at.run()
    at.selectbox(key=models_keys.MODELS_OPEN_PICK).set_value(m.model_id).run()
    at.button(key="models_edit").click().run()
    assert no_exception(at)
    errors = " ".join(texts(at, "error"))
    assert f"unknown security {ghost}" in errors, errors
    assert not any("All model rules pass" in s for s in texts(at, "success"))


def test_targets_summing_to_exactly_95_percent_show_no_over_the_cap_badge(at, repo):
    ids = [s.security_id for s in repo().get_model(model_id(repo, "Technology Leaders")).positions][:3]
    rows = [
        {"security_id": i, "target": t, "low_drift": 0.05, "high_drift": 0.05}
        for i, t in zip(ids, (0.3, 0.3, 0.35), strict=True)
    ]
    check = check_rows("x", rows, ())
    assert check.target_sum == Decimal("0.95") and check.ok
    m = repo().create_model("Exactly 95", [pos(i, t) for i, t in zip(ids, ("0.3", "0.3", "0.35"), strict=True)], [])
    at.run()
    at.selectbox(key=models_keys.MODELS_OPEN_PICK).set_value(m.model_id).run()
    at.button(key="models_edit").click().run()
    metric = next(x for x in at.metric if x.label.startswith("Σ targets"))
    assert metric.value == "95.0 %" and not metric.proto.delta, metric.proto.delta
    assert any("All model rules pass" in s for s in texts(at, "success"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "security_id": st.one_of(st.none(), st.text(max_size=30), st.just("a" * 24)),
                "target": st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=5), st.integers()),
                "low_drift": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
                "high_drift": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.decimals()),
            }
        ),
        max_size=6,
    ),
    st.one_of(st.none(), st.text(max_size=300)),
)
def test_fuzz_the_editor_check_never_raises_and_blocks_every_bad_row(rows, name):
    """The model editor's inputs: whatever the grid sends, the check names the problems (never an exception)."""
    check = check_rows(name, rows, (), known={"a" * 24})
    for i, r in enumerate(rows):
        if r["security_id"] != "a" * 24:
            assert any(x.row == i and x.blocking for x in check.issues) or not check.ok


def test_an_unexpected_error_in_a_callback_is_a_short_message_never_a_traceback(at, repo, monkeypatch):
    def boom(self, model_id):
        raise RuntimeError("driver exploded\nTraceback (most recent call last): secret internals")

    monkeypatch.setattr("data.repositories.models.ModelRepository.get_model", boom)
    at.selectbox(key=models_keys.MODELS_OPEN_PICK).set_value(model_id(repo, "Technology Leaders")).run()
    at.button(key="models_edit").click().run()
    assert no_exception(at)
    errors = " ".join(texts(at, "error"))
    assert "something unexpected went wrong" in errors and "Traceback" not in errors and "exploded" not in errors


def test_a_failing_scenario_delete_is_the_pages_message_not_streamlits_error_box(at, repo, monkeypatch):
    """Issue 13 item 2 beyond the models page: every state-changing callback goes through the same mapping."""
    run_whatif(open_page(at, models_by_name(repo)["Technology Leaders"]))
    (scenario,) = scenarios(at)

    def database_down(self, *args, **kwargs):
        raise ServiceUnavailable("the database is unavailable: connection refused", {"service": "MongoDB"})

    monkeypatch.setattr("data.repositories.workspaces.WorkspaceRepository.delete_scenario", database_down)
    at.button(key=rebalance_keys.DELETE).click().run()
    assert no_exception(at)
    assert any("database" in e.lower() for e in texts(at, "error")), texts(at, "error")
    assert [s.id for s in scenarios(at)] == [scenario.id]  # nothing lost: the scenario is still there
