"""Sign-in and roles in the app: the current :class:`~data.access.Principal`, the sidebar block and the gates.

- No ``[auth]`` section in ``.streamlit/secrets.toml``: *local mode*, one local user with every role, and a visible
  "local mode: no sign-in" notice in the sidebar (the zero-setup default; tests and ``./run.sh`` use it).
- ``[auth]`` configured: Streamlit's OpenID Connect sign-in (``st.login`` / ``st.user``); roles from the ``[roles]``
  claim mapping (``data.access.RolePolicy``). Nobody reads anything before signing in; a provider that does not
  answer, a bad ``[roles]`` table or a user with no role is a clear message and the page stops: never open access.

Every write path calls :func:`require` right before it writes (model create/edit/delete/link, save run, delete run,
submit orders), so a button hidden or disabled in the browser cannot be bypassed by a forged rerun.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx
import streamlit as st

from components.feedback import escape_md
from data.access import Action, Principal, RolePolicy, local_principal, principal_from_claims
from data.access import require as require_role
from engine.errors import EngineError, Forbidden

log = logging.getLogger(__name__)

PROVIDER_TIMEOUT = 3.0  # seconds for the discovery-document probe


def _secret_table(name: str) -> Mapping[str, object] | None:
    """A ``[name]`` table of st.secrets, or None (no secrets file at all is the same as no table)."""
    try:
        value = st.secrets.get(name)
    except Exception:  # no secrets.toml anywhere: Streamlit raises; that means "not configured"
        return None
    return value if isinstance(value, Mapping) else None


def auth_configured() -> bool:
    """True when ``[auth]`` is configured: sign-in is required and local mode is off."""
    return _secret_table("auth") is not None


def policy() -> RolePolicy:
    """The claim → role mapping of ``[roles]`` (``InvalidInput`` when it is malformed)."""
    table = _secret_table("roles")
    return RolePolicy.from_config({k: _plain(v) for k, v in table.items()} if table else None)


def _plain(value: object) -> object:
    return list(value) if isinstance(value, list | tuple) else value


def metadata_url() -> str | None:
    """The provider's discovery document (``server_metadata_url`` of ``[auth]`` or of its first provider table)."""
    table = _secret_table("auth") or {}
    url = table.get("server_metadata_url")
    if isinstance(url, str):
        return url
    for value in table.values():
        if isinstance(value, Mapping) and isinstance(value.get("server_metadata_url"), str):
            return value["server_metadata_url"]
    return None


@st.cache_data(ttl="30s", show_spinner=False)
def provider_problem(url: str | None) -> str | None:
    """None when the identity provider answers its discovery document, else what is wrong (cached 30 s)."""
    if not url:
        return "[auth] has no server_metadata_url"
    try:
        reply = httpx.get(url, timeout=PROVIDER_TIMEOUT)
        reply.raise_for_status()
        reply.json()
    except (httpx.HTTPError, ValueError) as err:
        log.warning("identity provider not reachable: %s", err)
        return f"{type(err).__name__}: {str(err)[:120]}"
    return None


def current_principal() -> Principal | None:
    """The user of this session: the local user in local mode, None when signed out; raises on a bad ``[roles]``."""
    if not auth_configured():
        return local_principal()
    if not st.user.is_logged_in:
        return None
    return principal_from_claims(st.user.to_dict(), policy())


def require(action: Action) -> Principal:
    """The server-side check before a write: the current principal, or ``Forbidden`` naming the missing role."""
    try:
        principal = current_principal()
    except EngineError as err:  # a broken [roles] table never grants anything
        raise Forbidden(f"roles cannot be checked: {err.message}", {"action": action.value}) from None
    return require_role(principal, action)


def why_not(action: Action) -> str | None:
    """None when the current user may do ``action``, else the reason (for ``help=`` of a disabled button)."""
    try:
        principal = current_principal()
    except EngineError as err:
        return f"roles cannot be checked: {err.message}"
    if principal is None:
        return f"sign in to {action.value}"
    return principal.why_not(action)


def user_id() -> str | None:
    """The id recorded as ``savedBy`` / ``updatedBy`` / ``submittedBy`` (None when nobody is signed in)."""
    try:
        principal = current_principal()
    except EngineError:
        return None
    return principal.user_id if principal else None


def render_sidebar() -> None:
    """Who is signed in (or the local-mode notice) and the sign-in / sign-out button."""
    with st.sidebar:
        if not auth_configured():
            st.caption(":orange[●] **local mode: no sign-in** — one local user with every role")
            return
        if not st.user.is_logged_in:
            st.caption("Not signed in")
            if provider_problem(metadata_url()) is None:
                st.button("Sign in", key="auth_login", icon=":material/login:", on_click=st.login)
            return
        try:
            principal = current_principal()
        except EngineError:
            principal = None
        if principal is not None:
            st.caption(f"Signed in as **{escape_md(principal.name)}** · {principal.role_label()}")
        st.button("Sign out", key="auth_logout", icon=":material/logout:", on_click=st.logout)


def gate() -> Principal:
    """Stop the page unless the current user may read: signed in (or local mode), with a role, roles readable."""
    if not auth_configured():
        return local_principal()
    if not st.user.is_logged_in:
        problem = provider_problem(metadata_url())
        if problem:
            st.error(
                "**Sign-in is configured but the identity provider is not answering.** Nobody can sign in "
                "until it is back; the app stays closed meanwhile.",
                icon=":material/lock:",
            )
            st.caption(escape_md(f"{metadata_url()}: {problem}"))
        else:
            st.info("**Sign in to use the rebalancer** (button in the sidebar).", icon=":material/lock:")
            st.button("Sign in", key="auth_login_main", icon=":material/login:", on_click=st.login)
        st.stop()
    try:
        principal = principal_from_claims(st.user.to_dict(), policy())
    except EngineError as err:
        st.error(
            f"**Access cannot be checked:** {escape_md(err.message)}. Ask an administrator.", icon=":material/lock:"
        )
        st.stop()
    if not principal.can(Action.READ):
        st.error(
            f"**{escape_md(principal.name)} has no role in this app.** Ask an administrator to add you to the "
            "viewer, pm or trader list.",
            icon=":material/lock:",
        )
        st.stop()
    return principal


__all__ = [
    "Action",
    "auth_configured",
    "current_principal",
    "gate",
    "policy",
    "render_sidebar",
    "require",
    "user_id",
    "why_not",
]
