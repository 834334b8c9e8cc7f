"""App shell: navigation over every registered page, the sidebar status block, the secrets overlay, and the
typed-error -> message mapping (no traceback ever reaches the browser)."""

from __future__ import annotations

import pytest

from components import feedback
from engine.errors import (
    BusinessRuleViolation,
    ErrorInfo,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    VersionConflict,
    Violation,
)
from tests.app.support import inject_fault, no_exception, texts

PAGES = {
    "pages/models.py": "Investment models",
    "pages/drift.py": "Drift",
    "pages/rebalance.py": None,  # issue #6 pages: only "renders a title without a traceback" is checked here
    "pages/orders.py": None,
    "pages/history.py": None,
}


def sidebar_text(at) -> str:
    """The sidebar's text with markdown escapes undone (paths are escaped for markdown)."""
    raw = "\n".join(str(m.value) for m in at.sidebar.markdown) + "\n".join(texts(at.sidebar, "caption"))
    return raw.replace("\\", "")


def test_models_is_the_default_page(at):
    assert no_exception(at)
    assert at.title[0].value == "Investment models"


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_is_registered_and_renders_without_a_traceback(at, path):
    at.switch_page(path).run()
    assert no_exception(at)
    assert at.title, f"{path} rendered no title"
    if PAGES[path]:
        assert at.title[0].value == PAGES[path]


def test_sidebar_names_the_backends_and_their_health(at, app_env):
    (block,) = [e for e in at.sidebar.expander if e.label.startswith("Backends")]
    assert block.label == "Backends: all healthy"
    text = sidebar_text(at)
    assert "**GlobeCo services** — embedded simulator with demo data" in text
    for service in ("Portfolio Accounting", "Portfolio", "Pricing", "Security", "Order"):
        assert f":green[●] {service}" in text
    assert f"embedded mongoeco (SQLite file {app_env})" in text


def test_sidebar_shows_a_service_that_does_not_answer(make_at, simulator):
    inject_fault(simulator, kind="error", service="pricing", status=503)
    at = make_at()
    (block,) = [e for e in at.sidebar.expander if e.label.startswith("Backends")]
    assert block.label == "Backends: 1 not answering"
    assert ":red[●] Pricing" in sidebar_text(at)
    assert no_exception(at)


def test_secrets_overlay_wins_over_the_environment(make_at, tmp_path):
    other = tmp_path / "from-secrets.sqlite3"
    at = make_at(run=False)
    at.secrets["MONGODB_URI"] = f"mongoeco:///{other}"
    at.run()
    assert f"embedded mongoeco (SQLite file {other})" in sidebar_text(at)
    assert other.exists() and no_exception(at)


def test_secrets_overlay_reads_a_settings_table(make_at, tmp_path):
    other = tmp_path / "from-table.sqlite3"
    at = make_at(run=False)
    at.secrets["settings"] = {"mongodb_uri": f"mongoeco:///{other}"}
    at.run()
    assert f"embedded mongoeco (SQLite file {other})" in sidebar_text(at)


# --- typed errors -> human messages (pure) ------------------------------------------------------------------------
def test_service_unavailable_names_the_service_and_what_to_do():
    msg = feedback.describe(ServiceUnavailable("pricing: 503 after 4 attempts", {"service": "pricing"}), "load drift")
    assert msg.level == "error"
    assert msg.headline == "Could not load drift: the Pricing service is not answering."
    assert any("Nothing was changed" in b for b in msg.bullets)


def test_invalid_input_lists_every_violation():
    err = InvalidInput(
        "bad",
        violations=[
            Violation("target_step", "row 2: target 0.013 must be a multiple of 0.005", 1, "target", "0.013"),
            Violation("name_required", "model name is required"),
        ],
    )
    msg = feedback.describe(err, "save model 'X'")
    assert msg.headline == "Could not save model 'X': the input breaks 2 rule(s)."
    assert msg.bullets[:2] == ["row 2: target 0.013 must be a multiple of 0.005", "model name is required"]


def test_conflicts_and_rules_are_explained():
    conflict = feedback.describe(VersionConflict("model m was modified", {"model_id": "m1"}), "save")
    assert conflict.level == "warning" and "someone else changed it first" in conflict.headline
    owner = feedback.describe(
        BusinessRuleViolation("portfolio p already belongs to model 'A'", {"rule": "one_model_per_portfolio"})
    )
    assert any("at most one investment model" in b for b in owner.bullets)
    name = feedback.describe(BusinessRuleViolation("a model named 'A' already exists", {"rule": "unique_name"}))
    assert any("Model names are unique" in b for b in name.bullets)
    gone = feedback.describe(ErrorInfo("NOT_FOUND", "model m not found", {"model_id": "m"}), "open")
    assert gone.level == "warning" and "Concerns model m." in gone.bullets


def test_unexpected_errors_hide_their_details():
    msg = feedback.describe(RuntimeError("password=hunter2"), "save")
    assert "hunter2" not in msg.markdown() and "unexpected" in msg.headline


def test_user_text_cannot_inject_markdown():
    msg = feedback.describe(NotFound("model [click](http://evil) *bold* $x$ not found"), "open")
    md = msg.markdown()
    assert "[click](http://evil)" not in md and "\\[click\\]" in md and "\\*bold\\*" in md and "\\$x\\$" in md


def test_a_bad_setting_is_named_instead_of_crashing(make_at):
    at = make_at(HTTP_TIMEOUT="soon")
    text = "\n".join(texts(at, "error"))
    assert "setting HTTP\\_TIMEOUT = 'soon'" in text and "valid number" in text
    assert no_exception(at)
