"""Typed engine/data errors -> clear human messages (what failed, for which object, what to do).

Pages catch errors at their edge with :func:`guard` (or call :func:`show` themselves). Nothing here ever renders a
traceback: unexpected exceptions are logged on the server and shown as a short generic message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import streamlit as st

from engine.errors import (
    BusinessRuleViolation,
    EngineError,
    ErrorInfo,
    ExternalDataError,
    Forbidden,
    InvalidInput,
    NonPositiveMarketValue,
    NotFound,
    RebalanceInfeasible,
    ServiceUnavailable,
    SolverFailed,
    VersionConflict,
)

log = logging.getLogger(__name__)

CALLBACK_ERROR = "feedback_callback_error"  # a Message from a failed button callback, shown on the next run

Level = Literal["error", "warning", "info"]

SERVICE_LABELS = {
    "accounting": "Portfolio Accounting",
    "portfolio": "Portfolio",
    "pricing": "Pricing",
    "security": "Security",
    "order": "Order",
    "mongodb": "database",
    "database": "database",
}


@dataclass(frozen=True)
class Message:
    """A rendered error: severity, one-line headline, and bullet points (facts first, then what to do)."""

    level: Level
    headline: str
    bullets: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """Markdown text: bold headline, then one bullet per line."""
        lines = [f"**{escape_md(self.headline)}**"]
        lines += [f"- {escape_md(b)}" for b in self.bullets]
        return "\n".join(lines)


def escape_md(text: str) -> str:
    """``text`` with markdown (and Streamlit's LaTeX/colour) syntax escaped, for user data in messages."""
    # user data (model names, ids) must not turn into markdown links, emphasis or LaTeX
    for ch in ("\\", "*", "_", "`", "[", "]", "$", "<", ">", "#", "~", "|"):
        text = text.replace(ch, "\\" + ch)
    return text


def detail(details: dict[str, Any], *names: str) -> Any:
    """First present value among ``names`` in ``details``, trying snake_case and camelCase spellings."""
    for name in names:
        parts = name.split("_")
        for key in (name, parts[0] + "".join(p.title() for p in parts[1:])):
            if details.get(key) not in (None, ""):
                return details[key]
    return None


def _subject(details: dict[str, Any]) -> str:
    """'portfolio X, security Y' for the ids a typed error carries."""
    out = []
    for label, names in (
        ("model", ("model_name", "model_id")),
        ("portfolio", ("portfolio_name", "portfolio_id")),
        ("security", ("ticker", "security_id")),
        ("service", ("service",)),
    ):
        value = detail(details, *names)
        if value is not None:
            out.append(f"{label} {SERVICE_LABELS.get(value, value) if label == 'service' else value}")
    return ", ".join(out)


def describe(err: BaseException | ErrorInfo, action: str | None = None) -> Message:
    """Map a typed error (or its serialised :class:`ErrorInfo`) to a :class:`Message`.

    ``action`` completes "Could not ..." (e.g. "save model 'Growth'").
    """
    if isinstance(err, ErrorInfo | EngineError):
        code, text, details = err.code, err.message, dict(err.details)
    else:
        code, text, details = "UNEXPECTED", "", {}
    what = f"Could not {action}" if action else "The request failed"
    subject = _subject(details)
    about = [f"Concerns {subject}."] if subject else []

    if code == InvalidInput.code:
        violations = details.get("violations") or []
        bullets = [v["message"] if isinstance(v, dict) else str(v) for v in violations] or [text]
        return Message("error", f"{what}: the input breaks {len(bullets)} rule(s).", [*bullets, "Fix them and retry."])
    if code == VersionConflict.code:
        return Message(
            "warning",
            f"{what}: someone else changed it first.",
            [text, *about, "Reload to see their version; your edits stay in the editor until you choose."],
        )
    if code == BusinessRuleViolation.code:
        bullets = [text, *about]
        rule = details.get("rule")
        if rule == "one_model_per_portfolio" or (rule is None and "portfolio" in text.lower()):
            bullets.append(
                "A portfolio follows at most one investment model. Unlink it from the other model first, "
                "or leave it out of this one."
            )
        elif rule == "unique_name" or (rule is None and "name" in text.lower()):
            bullets.append("Model names are unique: choose another name.")
        return Message("error", f"{what}: a business rule blocks it.", bullets)
    if code == Forbidden.code:
        return Message("error", f"{what}: your role does not allow it.", [text, "Nothing was changed."])
    if code == NotFound.code:
        return Message("warning", f"{what}: it no longer exists.", [text, *about, "It may have been deleted; reload."])
    if code == ServiceUnavailable.code:
        service = SERVICE_LABELS.get(detail(details, "service") or "", detail(details, "service") or "a required")
        return Message(
            "error",
            f"{what}: the {service} service is not answering.",
            [
                text,
                "Nothing was changed. The sidebar shows the status of every backend; "
                "try again in a minute or ask operations.",
            ],
        )
    if code == ExternalDataError.code:
        return Message(
            "error",
            f"{what}: a service sent bad or missing data.",
            [text, *about, "The other portfolios are unaffected; check the data at the source."],
        )
    if code in (RebalanceInfeasible.code, SolverFailed.code, NonPositiveMarketValue.code):
        hint = {
            RebalanceInfeasible.code: "Widen the drift bands, lower the minimum cash, or add cash.",
            SolverFailed.code: "Retry with a longer solver time limit.",
            NonPositiveMarketValue.code: "A portfolio needs a positive market value to be rebalanced.",
        }[code]
        return Message("error", f"{what}: no feasible solution.", [text, *about, hint])
    if isinstance(err, EngineError | ErrorInfo):
        return Message("error", f"{what}.", [text, *about])
    return Message(
        "error",
        f"{what}: something unexpected went wrong.",
        ["The details were written to the server log. Retry; if it persists, report the time and what you did."],
    )


def show(err: BaseException | ErrorInfo, action: str | None = None) -> Message:
    """Render ``err`` inline (st.error / st.warning); unexpected exceptions are logged with their traceback."""
    if not isinstance(err, EngineError | ErrorInfo):
        log.exception("unexpected error while %s", action or "handling a request", exc_info=err)
    msg = describe(err, action)
    render(msg)
    return msg


def render(msg: Message) -> None:
    """Render a :class:`Message` with the matching alert."""
    icon = {"error": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}[msg.level]
    getattr(st, msg.level)(msg.markdown(), icon=icon)


@contextmanager
def guard(action: str, stop: bool = True) -> Iterator[None]:
    """Run a block; on any error show a human message and (by default) stop the script run.

    Streamlit's own control flow (``st.stop``, ``st.rerun``) derives from ``BaseException`` and passes through.
    """
    try:
        yield
    except Exception as err:  # the page edge: typed errors get their message, anything else a generic one
        show(err, action)
        if stop:
            st.stop()


def success(text: str) -> None:
    """Transient confirmation that survives a page switch (``text`` is escaped: user names never render)."""
    st.toast(escape_md(text), icon=":material/check_circle:")


def callback[**P](action: str, on_error: Callable[[Exception], None] | None = None):
    """Decorate a button/widget callback so an error goes through :func:`describe`, never Streamlit's generic box.

    Streamlit runs callbacks before the script, outside every page's ``guard``: an exception there would show
    "This app has encountered an error" and an empty page. Here the message is kept in the session and shown by
    :func:`render_callback_error` (called by the shell) on the run that follows; ``on_error`` may reset state (the
    way back, e.g. forget a model that no longer exists).
    """

    def wrap(fn: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                fn(*args, **kwargs)
            except Exception as err:  # the callback edge: same mapping as the page edge
                if not isinstance(err, EngineError):
                    log.exception("unexpected error in a callback while trying to %s", action, exc_info=err)
                st.session_state[CALLBACK_ERROR] = describe(err, action)
                if on_error is not None:
                    on_error(err)

        return run

    return wrap


def render_callback_error() -> None:
    """Show (once) the message of a callback that failed on the previous interaction."""
    msg = st.session_state.pop(CALLBACK_ERROR, None)
    if isinstance(msg, Message):
        render(msg)
