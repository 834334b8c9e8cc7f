"""Decimal128 exactness and tz-aware datetimes, in the mapping and through both backends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from bson import Decimal128, ObjectId
from hypothesis import given
from hypothesis import strategies as st

from data.documents import date_from_doc, date_to_doc, from_d128, from_utc, to_d128, to_utc
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
