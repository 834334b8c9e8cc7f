"""Roles from claims and the server-side check before every write (issue #13, sign-in and roles)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data.access import Action, Role, RolePolicy, local_principal, principal_from_claims, require
from engine.errors import Forbidden, InvalidInput

POLICY = RolePolicy.from_config(
    {"claim": "groups", "viewer": ["analysts"], "pm": ["pms"], "trader": ["Traders"], "default": []}
)


def test_local_mode_has_every_role():
    user = local_principal()
    assert user.local and all(user.can(a) for a in Action)


@pytest.mark.parametrize(
    ("groups", "allowed", "denied"),
    [
        (["analysts"], {Action.READ}, {Action.EDIT_MODEL, Action.SAVE_RUN, Action.SUBMIT_ORDERS}),
        (["pms"], {Action.READ, Action.EDIT_MODEL, Action.RUN_WHAT_IF, Action.SAVE_RUN}, {Action.SUBMIT_ORDERS}),
        (["traders"], {Action.READ, Action.SUBMIT_ORDERS}, {Action.EDIT_MODEL, Action.SAVE_RUN}),
        (["pms", "traders"], set(Action), set()),
        ([], set(), set(Action)),
    ],
)
def test_each_role_may_do_exactly_its_actions(groups, allowed, denied):
    user = principal_from_claims({"sub": "u1", "email": "a@firm.example", "groups": groups}, POLICY)
    for action in allowed:
        assert require(user, action) is user
    for action in denied:
        with pytest.raises(Forbidden, match=action.value):
            require(user, action)


def test_a_viewer_is_told_why_a_button_is_disabled():
    viewer = principal_from_claims({"sub": "u1", "email": "v@firm.example", "groups": "analysts"}, POLICY)
    assert viewer.why_not(Action.SUBMIT_ORDERS) == (
        "submit orders needs the trader role; you are signed in as v@firm.example (viewer)"
    )
    assert viewer.user_id == "v@firm.example"


def test_nobody_signed_in_may_write_and_a_token_without_sub_is_refused():
    with pytest.raises(Forbidden, match="sign in"):
        require(None, Action.SAVE_RUN)
    with pytest.raises(Forbidden, match="sub"):
        principal_from_claims({"email": "x@firm.example"}, POLICY)


@pytest.mark.parametrize(
    "config",
    [{"claim": ""}, {"admin": ["x"]}, {"pm": 3}, {"default": ["root"]}, {"pm": [1, 2]}],
)
def test_a_bad_role_configuration_is_a_clear_error_never_open_access(config):
    with pytest.raises(InvalidInput):
        RolePolicy.from_config(config)


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.text(), st.integers(), st.lists(st.text()))))
def test_arbitrary_claims_never_grant_a_role_they_do_not_name(claims):
    claims = {**claims, "sub": "s"}
    user = principal_from_claims(claims, POLICY)
    groups = claims.get("groups")
    named = {groups} if isinstance(groups, str) else set(groups) if isinstance(groups, list) else set()
    named = {g.casefold() for g in named}
    expected = {r for r, g in ((Role.VIEWER, "analysts"), (Role.PM, "pms"), (Role.TRADER, "traders")) if g in named}
    assert user.roles == expected
