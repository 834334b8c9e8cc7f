"""Decimal128 exactness and tz-aware datetimes, in the mapping and through both backends."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from decimal import Decimal

import bson
import pytest
from bson import Decimal128, ObjectId
from hypothesis import given
from hypothesis import strategies as st

from data.documents import (
    StoredDecimal128,
    d128_to_decimal,
    date_from_doc,
    date_to_doc,
    from_d128,
    from_utc,
    to_d128,
    to_utc,
)
from engine.models import Position

TRICKY = [
    "0.020",
    "0.02",
    "0",
    "0.000",
    "-0",
    "-12.5",
    "1E+3",
    "0.005",
    "123456789012345678901234.5678901234",  # 34 significant digits: the Decimal128 maximum
    "0.0000000000000000000000000000000001",
    "-9999999999999999999999999999999999",
    "1.23456789012345678901234567890123E-40",
]


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(lambda d: len(d.as_tuple().digits) <= 34))
def test_decimal128_mapping_is_exact(value):
    back = from_d128(to_d128(value))
    assert back == value and back.as_tuple() == value.as_tuple()  # same digits and exponent: 0.020 stays 0.020


# Any Decimal128 value: up to 34 digits, every exponent from the smallest to beyond the clamping limit, and signs.
DECIMAL128_VALUES = st.builds(
    lambda sign, coefficient, exponent: Decimal((sign, tuple(int(c) for c in str(coefficient)), exponent)),
    st.integers(0, 1),
    st.integers(0, 10**34 - 1),
    st.one_of(st.integers(-6176, 6144), st.integers(-40, 40)),
).filter(lambda d: len(d.as_tuple().digits) + d.as_tuple().exponent - 1 <= 6144)  # above: bson raises Overflow


@given(DECIMAL128_VALUES)
def test_fast_decimal128_is_bit_identical_to_bson(value):
    """to_d128 and d128_to_decimal take shortcuts; they must agree with bson's own encoder and decoder exactly."""
    reference = Decimal128(value)
    ours = to_d128(value)
    assert ours.bid == reference.bid and ours == reference
    assert ours.to_decimal().as_tuple() == reference.to_decimal().as_tuple() and str(ours) == str(reference)
    assert d128_to_decimal(reference).as_tuple() == reference.to_decimal().as_tuple()
    assert bson.decode(bson.encode({"v": ours}))["v"].bid == reference.bid  # the C encoder writes the same bytes


@pytest.mark.parametrize("text", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "1E+6144", "-1.5E+6120", "0E+6111"])
def test_special_and_clamped_values_take_bsons_own_path(text):
    reference = Decimal128(text)
    ours = to_d128(Decimal(text))
    assert ours.bid == reference.bid and str(ours) == str(reference)
    assert from_d128(ours).as_tuple() == reference.to_decimal().as_tuple()
    assert d128_to_decimal(reference).as_tuple() == reference.to_decimal().as_tuple()


def test_non_canonical_bid_reads_as_zero_like_bson():
    too_big = Decimal128((0x3040000000000000 | 0x1FFFFFFFFFFFF, (1 << 64) - 1))  # coefficient 2**113 - 1 > 10**34 - 1
    assert d128_to_decimal(too_big).as_tuple() == too_big.to_decimal().as_tuple() == Decimal("0").as_tuple()


def test_stored_decimal128_is_immutable_and_pickles_as_plain_decimal128():
    value = to_d128(Decimal("0.020"))
    assert isinstance(value, StoredDecimal128) and isinstance(value, Decimal128)
    assert copy.deepcopy(value) is value and copy.copy(value) is value  # why: mongoeco deep-copies every value
    back = pickle.loads(pickle.dumps(value))
    assert type(back) is Decimal128 and back == value and str(back) == "0.020"
    with pytest.raises(AttributeError):
        value.extra = 1  # slots: nothing can be attached or changed


def test_values_beyond_34_digits_round_to_the_decimal128_precision():
    value = Decimal("1.234567890123456789012345678901234567")
    assert from_d128(to_d128(value)) == Decimal("1.234567890123456789012345678901235")


def test_reading_tolerates_hand_written_numbers():
    assert from_d128(3) == Decimal(3) and from_d128(0.1) == Decimal("0.1") and from_d128("2.50") == Decimal("2.50")
    with pytest.raises(TypeError):
        from_d128(None)


def test_datetimes_are_utc_and_millisecond_precise():
    plus_five = dt.timezone(dt.timedelta(hours=5))
    local = dt.datetime(2025, 1, 1, 3, 0, 0, 123999, tzinfo=plus_five)
    stored = to_utc(local)
    assert stored == dt.datetime(2024, 12, 31, 22, 0, 0, 123000, tzinfo=dt.UTC) and stored.tzinfo is dt.UTC
    assert to_utc(dt.datetime(2025, 1, 1)) == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)  # naive is taken as UTC
    assert from_utc(dt.datetime(2025, 1, 1)).tzinfo is dt.UTC
    assert date_to_doc(dt.date(2025, 2, 28)) == dt.datetime(2025, 2, 28, tzinfo=dt.UTC)
    assert date_from_doc(dt.datetime(2025, 2, 28, tzinfo=dt.UTC)) == dt.date(2025, 2, 28)


def test_decimal_round_trip_through_the_database(mongo):
    col = mongo.db.decimals
    col.insert_many([{"i": i, "v": to_d128(Decimal(s))} for i, s in enumerate(TRICKY)])
    for doc in col.find({}, sort=[("i", 1)]):
        want = Decimal(TRICKY[doc["i"]])
        assert isinstance(doc["v"], Decimal128)
        assert from_d128(doc["v"]).as_tuple() == want.as_tuple(), TRICKY[doc["i"]]
    # Numeric equality and comparison work on the stored values, whatever their exponent.
    assert col.count_documents({"v": Decimal128("0.02")}) == 2
    assert col.count_documents({"v": {"$gt": Decimal128("0.01"), "$lt": Decimal128("0.021")}}) == 2


def test_model_values_keep_their_exact_digits(models_repo):
    pos = Position(
        security_id="a" * 24, target=Decimal("0.150"), high_drift=Decimal("0.0125"), low_drift=Decimal("1.000")
    )
    model = models_repo.create_model("Exact", [pos])
    stored = models_repo.get_model(model.model_id).positions[0]
    assert stored == pos and str(stored.target) == "0.150" and str(stored.low_drift) == "1.000"


def test_tz_aware_datetimes_through_the_database(models_repo, mongo):
    local = dt.datetime(2025, 7, 1, 9, 30, 15, 987654, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    model = models_repo.create_model("Clock")
    stamped = models_repo.stamp_last_rebalance(model.model_id, local)
    expected = dt.datetime(2025, 7, 1, 13, 30, 15, 987000, tzinfo=dt.UTC)
    again = models_repo.get_model(model.model_id).last_rebalance_date
    assert stamped.last_rebalance_date == expected and again == expected and again.tzinfo is dt.UTC
    raw = mongo.db.models.find_one({"_id": ObjectId(model.model_id)})["lastRebalanceDate"]
    assert raw.utcoffset() == dt.timedelta(0)  # the backend itself hands back an aware value
