"""Who may do what: roles from the identity provider's claims, checked before every write (issue #13).

Three roles: **viewer** (read everything), **pm** (edit models, run what-ifs, save runs) and **trader** (run
what-ifs, submit orders). Roles come from configuration: a claim (``email`` by default, or e.g. ``groups``) whose
values are mapped to roles. With no ``[auth]`` configured the app runs in *local mode*: one local user with every
role, said so in the sidebar. A signed-in user whose claims map to no role gets none (read nothing, write nothing):
configuration errors never open access.

This module is pure (no Streamlit): the app builds a :class:`Principal` from ``st.user`` and passes it to every
write path, which calls :func:`require` first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from enum import StrEnum

from engine.errors import Forbidden, InvalidInput


class Role(StrEnum):
    VIEWER = "viewer"
    PM = "pm"
    TRADER = "trader"


class Action(StrEnum):
    """Every guarded action, with the role it needs (``NEEDS``)."""

    READ = "read"
    EDIT_MODEL = "edit models"
    RUN_WHAT_IF = "run what-ifs"
    SAVE_RUN = "save rebalances"
    DELETE_RUN = "delete saved rebalances"
    SUBMIT_ORDERS = "submit orders"


NEEDS: dict[Action, frozenset[Role]] = {
    Action.READ: frozenset(Role),
    Action.EDIT_MODEL: frozenset({Role.PM}),
    # a trader builds the orders they submit; a what-if writes nothing (scenarios live in the session)
    Action.RUN_WHAT_IF: frozenset({Role.PM, Role.TRADER}),
    Action.SAVE_RUN: frozenset({Role.PM}),
    Action.DELETE_RUN: frozenset({Role.PM}),
    Action.SUBMIT_ORDERS: frozenset({Role.TRADER}),
}
LOCAL_USER = "local"


@dataclasses.dataclass(frozen=True)
class Principal:
    """The user behind a session: a stable id for records (``savedBy`` …), a display name and the roles."""

    user_id: str
    name: str
    roles: frozenset[Role]
    local: bool = False

    def can(self, action: Action) -> bool:
        return bool(self.roles & NEEDS[action])

    def why_not(self, action: Action) -> str | None:
        """None when allowed, else the reason to show beside a disabled button."""
        if self.can(action):
            return None
        needed = " or ".join(sorted(r.value for r in NEEDS[action]))
        return f"{action.value} needs the {needed} role; you are signed in as {self.name} ({self.role_label()})"

    def role_label(self) -> str:
        return ", ".join(sorted(r.value for r in self.roles)) or "no role"


@dataclasses.dataclass(frozen=True)
class RolePolicy:
    """Claim → role mapping from configuration (``[roles]`` in secrets.toml)."""

    claim: str = "email"
    members: Mapping[Role, frozenset[str]] = dataclasses.field(default_factory=dict)
    default: frozenset[Role] = frozenset()  # roles of every signed-in user (e.g. viewer for the whole firm)

    @classmethod
    def from_config(cls, config: Mapping[str, object] | None) -> RolePolicy:
        """Read ``{"claim": "groups", "viewer": [...], "pm": [...], "trader": [...], "default": ["viewer"]}``."""
        config = dict(config or {})
        claim = config.pop("claim", "email")
        if not isinstance(claim, str) or not claim:
            raise InvalidInput("roles.claim must name a claim, e.g. 'email' or 'groups'", {"field": "roles.claim"})
        default = _roles(config.pop("default", []), "roles.default")
        members: dict[Role, frozenset[str]] = {}
        for key, values in config.items():
            try:
                role = Role(key)
            except ValueError:
                raise InvalidInput(
                    f"unknown role {key!r} in [roles]: use viewer, pm or trader", {"field": f"roles.{key}"}
                ) from None
            members[role] = frozenset(_texts(values, f"roles.{key}"))
        return cls(claim, members, default)

    def roles_for(self, claims: Mapping[str, object]) -> frozenset[Role]:
        """The roles of a signed-in user with these ID-token claims."""
        raw = claims.get(self.claim)
        values = {raw} if isinstance(raw, str) else set(raw) if isinstance(raw, list | tuple) else set()
        values = {v.casefold() for v in values if isinstance(v, str)}
        granted = {role for role, names in self.members.items() if values & {n.casefold() for n in names}}
        return frozenset(granted) | self.default


def local_principal() -> Principal:
    """Local mode (no ``[auth]``): one user with every role."""
    return Principal(LOCAL_USER, "local user", frozenset(Role), local=True)


def principal_from_claims(claims: Mapping[str, object], policy: RolePolicy) -> Principal:
    """The principal of a signed-in user (``sub`` is the stable id; email, then name, for display)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Forbidden("the identity provider sent no user id (sub claim)", {"claim": "sub"})
    email, name = claims.get("email"), claims.get("name")
    shown = email if isinstance(email, str) and email else name if isinstance(name, str) and name else subject
    return Principal(shown if isinstance(email, str) and email else subject, shown, policy.roles_for(claims))


def require(principal: Principal | None, action: Action) -> Principal:
    """Raise ``Forbidden`` unless ``principal`` may do ``action`` (the server-side check before every write)."""
    if principal is None:
        raise Forbidden(f"sign in to {action.value}", {"action": action.value})
    reason = principal.why_not(action)
    if reason:
        raise Forbidden(reason, {"action": action.value, "user": principal.user_id})
    return principal


def _texts(values: object, field: str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"{field} must be a list of claim values", {"field": field})
    return list(values)


def _roles(values: object, field: str) -> frozenset[Role]:
    try:
        return frozenset(Role(v) for v in _texts(values, field))
    except ValueError:
        raise InvalidInput(f"{field} lists an unknown role: use viewer, pm or trader", {"field": field}) from None


__all__ = [
    "NEEDS",
    "Action",
    "Principal",
    "Role",
    "RolePolicy",
    "local_principal",
    "principal_from_claims",
    "require",
]
