"""list_models paging and sorting: every edge case of product-spec 1.7 / 3.13, on both backends."""

from __future__ import annotations

import datetime as dt

import pytest

from data.repositories.paging import VALID_SORT_TOKENS
from engine.errors import InvalidInput

NAMES = ["delta", "Alpha", "charlie", "bravo", "echo", "alpha two"]
# Stamped dates: two models share one date (ties), three are never rebalanced (None).
DATES = {
    "delta": dt.datetime(2025, 2, 1, tzinfo=dt.UTC),
    "charlie": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    "echo": dt.datetime(2025, 2, 1, tzinfo=dt.UTC),
}


@pytest.fixture
def seeded(models_repo):
    models = []
    for name in NAMES:
        m = models_repo.create_model(name)
        if name in DATES:
            m = models_repo.stamp_last_rebalance(m.model_id, DATES[name])
        models.append(m)
    return models


def names(models):
    return [m.name for m in models]


def expected(models, *keys):
    """Reference order: sort by the keys right to left (stable), with _id ascending as the base order."""
    out = sorted(models, key=lambda m: m.model_id)
    for field, desc in reversed(keys):
        if field == "last_rebalance_date":
            # MongoDB puts null before any date in ascending order.
            def key(m):
                return (
                    m.last_rebalance_date is not None,
                    m.last_rebalance_date or dt.datetime.min.replace(tzinfo=dt.UTC),
                )
        elif field == "name":

            def key(m):
                return m.name.encode()  # binary order, as MongoDB without collation: "Alpha" < "alpha two"
        else:

            def key(m):
                return m.model_id

        out = sorted(out, key=key, reverse=desc)
    return out


def test_no_paging_returns_every_model(models_repo, seeded):
    assert names(models_repo.list_models()) == names(seeded)
    assert models_repo.count_models() == len(NAMES)


def test_limit_only_starts_at_zero_and_offset_only_runs_to_the_end(models_repo, seeded):
    assert names(models_repo.list_models(limit=2)) == names(seeded[:2])
    assert names(models_repo.list_models(offset=4)) == names(seeded[4:])
    assert names(models_repo.list_models(offset=1, limit=3)) == names(seeded[1:4])
    assert names(models_repo.list_models(offset="2", limit="1")) == names(seeded[2:3])  # deep-link strings


def test_limit_zero_is_an_empty_page_not_everything(models_repo, seeded):
    assert models_repo.list_models(limit=0) == []
    assert models_repo.list_models(offset=3, limit=0) == []


def test_offset_equal_to_count_is_empty_and_above_count_is_an_error(models_repo, seeded):
    assert models_repo.list_models(offset=len(NAMES)) == []
    with pytest.raises(InvalidInput, match=f"offset exceeds total count {len(NAMES)}"):
        models_repo.list_models(offset=len(NAMES) + 1, limit=5)


def test_offset_beyond_an_empty_collection(models_repo):
    assert models_repo.list_models(offset=0) == []
    with pytest.raises(InvalidInput, match="total count 0"):
        models_repo.list_models(offset=1)


@pytest.mark.parametrize("bad", [-1, "-1", "abc", 1.5, "1.0", True, "", [1], {"$gt": 0}])
@pytest.mark.parametrize("param", ["offset", "limit"])
def test_offset_and_limit_must_be_non_negative_integers(models_repo, seeded, param, bad):
    with pytest.raises(InvalidInput, match=f"{param} must be a non-negative integer") as err:
        models_repo.list_models(**{param: bad})
    assert err.value.details["field"] == param


@pytest.mark.parametrize(
    ("sort_by", "keys"),
    [
        ("name", [("name", False)]),
        ("+name", [("name", False)]),
        (" name", [("name", False)]),  # an unencoded '+' in a URL decodes to a space
        ("-name", [("name", True)]),
        ("model_id", [("model_id", False)]),
        ("-model_id", [("model_id", True)]),
        ("last_rebalance_date", [("last_rebalance_date", False)]),
        ("-last_rebalance_date", [("last_rebalance_date", True)]),
        ("-last_rebalance_date,name", [("last_rebalance_date", True), ("name", False)]),
        ("  -last_rebalance_date , -name ", [("last_rebalance_date", True), ("name", True)]),
        ("last_rebalance_date,-model_id", [("last_rebalance_date", False), ("model_id", True)]),
    ],
)
def test_sorting_matches_the_reference_order(models_repo, seeded, sort_by, keys):
    want = names(expected(seeded, *keys))
    assert names(models_repo.list_models(sort_by=sort_by)) == want
    # Paging applies after sorting, and pages are stable: stitched pages give the same order.
    pages = [models_repo.list_models(offset=o, limit=2, sort_by=sort_by) for o in range(0, len(NAMES), 2)]
    assert [n for page in pages for n in names(page)] == want


def test_ties_break_on_id_ascending_when_paging(models_repo, seeded):
    page = models_repo.list_models(offset=0, limit=3, sort_by="last_rebalance_date")
    undated = [m for m in seeded if m.last_rebalance_date is None]
    assert names(page) == names(sorted(undated, key=lambda m: m.model_id))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "name,",
        ",name",
        "foo",
        "name,-name",
        "+",
        "-",
        "Name",
        "_id",
        "$natural",
        "name,,model_id",
        "+ name",
        "name;-model_id",
    ],
)
def test_bad_sort_tokens_list_the_valid_values(models_repo, seeded, bad):
    with pytest.raises(InvalidInput) as err:
        models_repo.list_models(sort_by=bad)
    assert VALID_SORT_TOKENS in err.value.message
    assert err.value.details["field"] == "sort_by"


def test_repeated_field_is_rejected_even_with_other_directions(models_repo, seeded):
    with pytest.raises(InvalidInput, match="more than once"):
        models_repo.list_models(sort_by="-model_id,name,+model_id")


def test_name_filter_is_a_literal_case_insensitive_substring(models_repo, seeded):
    assert names(models_repo.list_models(name_contains="ALPHA", sort_by="name")) == ["Alpha", "alpha two"]
    assert models_repo.count_models("alpha") == 2
    assert models_repo.list_models(name_contains=".*") == []
    assert models_repo.list_models(name_contains="(") == []
    assert names(models_repo.list_models(name_contains="a t", offset=0, limit=5)) == ["alpha two"]
    with pytest.raises(InvalidInput, match="offset exceeds total count 2"):
        models_repo.list_models(name_contains="alpha", offset=3)
