"""Sign-in and roles in the app (issue #13): local mode, the gate, disabled buttons, and forged writes refused.

The browser flow against a real OIDC provider is ``tests/e2e/test_sign_in.py``; here ``AppTest.user`` stands in for
``st.user`` (what Streamlit fills after the provider's callback) and ``at.secrets`` for ``.streamlit/secrets.toml``.
A *forged* attempt drives the write path the way a hand-made rerun would (the dialog flag set, the confirm button
pressed) although the browser shows the button disabled: the server-side ``require`` must refuse it.
"""

from __future__ import annotations

import json

import pytest

from components import resources
from components.models import keys as models_keys
from components.orders import keys as orders_keys
from components.rebalance import keys as rebalance_keys
from components.rebalance.controls import control_key
from tests.app.support import ORDERS_PAGE, model_id, no_exception, open_page, texts, whatif_then_orders

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "app",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",  # nothing listens on port 9
}
ROLES = {"claim": "groups", "viewer": ["analysts"], "pm": ["pms"], "trader": ["traders"]}


def signed_in(at, groups: list[str], who: str = "vera"):
    at.secrets["auth"] = AUTH
    at.secrets["roles"] = ROLES
    at.user = {"is_logged_in": True, "sub": who, "email": f"{who}@firm.example", "groups": groups}
    return at


def sidebar_text(at) -> str:
    return " ".join(str(e.value) for e in at.sidebar.caption)


def test_local_mode_is_the_default_and_says_so(at):
    assert "local mode: no sign-in" in sidebar_text(at)
    assert not at.button(key="models_new").disabled and no_exception(at)


def test_configured_but_unreachable_provider_is_a_clear_message_never_open_access(make_at):
    at = make_at(run=False)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.run()
    assert any("identity provider is not answering" in t for t in texts(at, "error"))
    assert not any(t.value == "Investment models" for t in at.title)  # the page never ran
    assert not [b for b in at.button if b.key == "auth_login"]  # no sign-in button that cannot work
    assert no_exception(at)


@pytest.mark.parametrize("groups", [[], ["contractors"]])
def test_a_signed_in_user_without_role_reads_nothing(make_at, groups):
    at = signed_in(make_at(run=False), groups).run()
    assert any("has no role in this app" in t for t in texts(at, "error"))
    assert not any(t.value == "Investment models" for t in at.title)


def test_a_viewer_reads_models_but_every_write_button_is_disabled_with_the_reason(make_at):
    at = signed_in(make_at(run=False), ["analysts"]).run()
    assert no_exception(at) and any(t.value == "Investment models" for t in at.title)
    assert "vera@firm.example" in sidebar_text(at) and "viewer" in sidebar_text(at)
    for key in ("models_new", "models_delete"):
        button = at.button(key=key)
        assert button.disabled and "edit models needs the pm role" in button.help
    at.switch_page("pages/rebalance.py").run()
    run = at.button(key="run")
    assert run.disabled and "run what-ifs needs the pm or trader role" in run.help


def test_a_forged_model_delete_by_a_viewer_is_refused_server_side(make_at, repo):
    at = signed_in(make_at(run=False), ["analysts"]).run()
    target = model_id(repo, "Technology Leaders")
    model = repo().get_model(target)
    at.session_state[models_keys.MODELS_PENDING_DELETE] = {
        "id": target, "name": model.name, "version": model.version, "portfolios": len(model.portfolios),
    }  # fmt: skip
    at.run()
    at.button(key="models_confirm_delete").click().run()
    assert any("your role does not allow it" in t for t in texts(at, "error"))
    assert repo().get_model(target).version == model.version  # still there
    assert no_exception(at)


def test_a_forged_submit_by_a_viewer_is_refused_and_nothing_reaches_the_order_service(make_at, repo, simulator):
    at = signed_in(make_at(run=False), ["pms"], who="paula").run()
    scenario = whatif_then_orders(at, repo)
    assert at.button(key="orders_submit").disabled  # a pm may not submit either
    signed_in(at, ["analysts"])  # the same session, now a viewer (e.g. roles changed, cookie kept)
    at.session_state[orders_keys.PENDING_SUBMIT] = True  # what a forged click on "Submit orders…" would set
    at.switch_page(ORDERS_PAGE).run()
    at.button(key="orders_confirm_submit").click().run()
    assert no_exception(at)
    report = at.session_state[orders_keys.SUBMIT_REPORT]
    assert report[1] == "error" and "submit orders needs the trader role" in report[2]
    assert not resources.submission_log().entries_for_portfolios(scenario.params.portfolio_ids)  # nothing claimed
    assert not [c for c in simulator.sim.calls.calls(service="order") if c.method == "POST"]


def test_pm_saves_and_the_record_says_who_history_shows_it(make_at, repo):
    at = signed_in(make_at(run=False), ["pms"], who="paula").run()
    whatif_then_orders(at, repo)
    at.button(key="orders_save").click().run()
    at.button(key="orders_confirm_save").click().run()
    assert no_exception(at)
    at.switch_page("pages/history.py").run()
    listing = at.dataframe[0].value
    assert list(listing["saved_by"]) == ["paula@firm.example"]
    assert any("saved by paula@firm.example" in c.value for c in at.caption)


def test_a_model_saved_by_a_pm_records_and_shows_who(make_at, repo):
    at = signed_in(make_at(run=False), ["pms"], who="paula").run()
    at.selectbox(key=models_keys.MODELS_OPEN_PICK).set_value(model_id(repo, "Technology Leaders")).run()
    at.button(key="models_edit").click().run()
    at.button(key="models_save").click().run()
    assert no_exception(at)
    assert repo().get_model(model_id(repo, "Technology Leaders")).updated_by == "paula@firm.example"
    assert any(c.value == "Last changed by paula@firm.example" for c in at.caption)


def test_a_trader_submits_but_may_not_save(make_at, repo, simulator):
    at = signed_in(make_at(run=False), ["traders"], who="tom").run()
    whatif_then_orders(at, repo)
    save = at.button(key="orders_save")
    assert save.disabled and "save rebalances needs the pm role" in save.help
    at.button(key="orders_submit").click().run()
    at.button(key="orders_confirm_submit").click().run()
    assert no_exception(at)
    _scenario_id, level, text = at.session_state[orders_keys.SUBMIT_REPORT]
    assert level == "success", text


def test_runs_saves_and_submissions_are_logged_as_json_with_the_user(make_at, repo, capsys):
    at = signed_in(make_at(run=False), ["pms", "traders"], who="ann").run()
    whatif_then_orders(at, repo)
    at.button(key="orders_save").click().run()
    at.button(key="orders_confirm_save").click().run()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    events = {e["event"]: e for e in lines if "event" in e}
    assert events["what_if_run"]["user"] == "ann@firm.example" and events["what_if_run"]["orders"] > 0
    saved = events["run_saved"]
    assert saved["outcome"] == "ok" and saved["rebalance_id"] and isinstance(saved["ms"], int)
    assert "timestamp" in saved


def test_trade_control_defaults_need_the_pm_role_and_record_who_saved_them(make_at, repo, capsys):
    """#11 merged with #13: "Save as model defaults" is a model write (role check, updatedBy, audit line)."""
    target = model_id(repo, "Technology Leaders")
    model = repo().get_model(target)
    at = signed_in(make_at(run=False), ["traders"], who="tom").run()
    open_page(at, model)
    at.radio(key=control_key(rebalance_keys.CTRL_POLICY, model)).set_value("out-of-band").run()
    save = at.button(key=rebalance_keys.CTRL_SAVE)
    assert save.disabled and "edit models needs the pm role" in save.help  # a trader may run, not change the model
    assert repo().get_model(target).version == model.version and no_exception(at)
    signed_in(at, ["pms"], who="paula").run()
    at.button(key=rebalance_keys.CTRL_SAVE).click().run()
    assert no_exception(at)
    stored = repo().get_model(target)
    assert stored.controls.trade_policy == "out-of-band" and stored.updated_by == "paula@firm.example"
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert [(x["event"], x["user"], x["outcome"]) for x in lines if x.get("what") == "trade_controls"] == [
        ("model_saved", "paula@firm.example", "ok")
    ]
