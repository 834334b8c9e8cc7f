"""Saved portfolios with their positions as columns (issue #12 speed): exact values, old layouts still readable."""

from __future__ import annotations

import datetime as dt
import decimal
import re
import struct
from decimal import Decimal

import numpy as np
import pytest
from bson import Binary, Decimal128, ObjectId
from hypothesis import given
from hypothesis import strategies as st

from data.documents import record_header_to_doc, record_portfolio_to_doc, to_d128
from data.record_columns import (
    BLOCK_PORTFOLIOS,
    BLOCK_POSITIONS,
    NUMBER_COLUMNS,
    ZLIB_SUBTYPE,
    block_starts,
    compressed,
    pack_decimals,
    pack_texts,
    portfolio_part_id,
    portfolio_part_to_doc,
    positions_from_columns,
    positions_to_columns,
    raw_bytes,
    unpack_decimals,
    unpack_texts,
)
from data.repositories import RebalanceRepository
from engine.errors import EngineError, NotFound
from engine.models import BandBreach, RecordPosition

T0 = dt.datetime(2025, 3, 14, 15, 9, 26, 535000, tzinfo=dt.UTC)

# Any finite decimal: short and long coefficients, tiny and huge exponents, negative zero.
decimals = st.decimals(allow_nan=False, allow_infinity=False) | st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(int(c) for c in digits), exponent)),
    st.integers(0, 1),
    st.text("0123456789", min_size=1, max_size=40),
    st.integers(-6200, 6200),
)


def storable(d: Decimal) -> bool:
    try:
        to_d128(d)
    except decimal.DecimalException:
        return False
    return True


def pids(n, start=0):
    return [f"{i:024x}" for i in range(start, start + n)]


def previous_pack(values):
    """``pack_decimals`` as it was before its odd values were found with one scan (a regex match per value)."""
    n = len(values)
    if not n:
        return b""
    texts = list(map(str, values))
    plain = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
    odd = [i for i, (t, m) in enumerate(zip(texts, map(plain.fullmatch, texts), strict=True)) if not m or len(t) > 34]
    for i in odd:
        texts[i] = "0"
    coefficients = list(map(int, "\n".join(texts).replace(".", "").replace("-", "").split("\n")))
    dots = np.fromiter((t.find(".") for t in texts), np.int64, n)
    lengths = np.fromiter(map(len, texts), np.int64, n)
    negative = np.fromiter((t.startswith("-") for t in texts), np.uint64, n)
    exponents = np.where(dots >= 0, dots + 1 - lengths, 0) + 6176
    words = np.empty((n, 2), "<u8")
    big = np.array(coefficients, dtype=object)
    words[:, 0] = (big & (2**64 - 1)).astype(np.uint64)
    high = (big >> 64).astype(np.uint64)
    words[:, 1] = (negative << np.uint64(63)) | (exponents.astype(np.uint64) << np.uint64(49)) | high
    for i in odd:
        words[i] = struct.unpack("<QQ", to_d128(values[i]).bid)
    return words.tobytes()


# Plus what str(Decimal) writes with an exponent or for no number at all: each goes through to_d128.
any_decimals = (
    decimals
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.sampled_from(
        [Decimal("0E+1"), Decimal("-0E-7"), Decimal("1E+5"), Decimal("-Infinity"), Decimal("NaN"), Decimal("9" * 35)]
    )
)


@given(st.lists(any_decimals, max_size=30))
def test_the_one_scan_packer_writes_the_bytes_of_the_previous_one(values):
    """Issue 12 §5: the packer finds its odd values with one scan of the joined texts; byte for byte as before."""
    values = [d for d in values if storable(d)]
    with decimal.localcontext(decimal.Context(prec=60, Emin=-999_999, Emax=999_999)):
        assert bytes(pack_decimals(values)) == previous_pack(values)


@given(st.lists(decimals, max_size=20))
def test_a_packed_column_holds_exactly_what_decimal128_stores(values):
    values = [d for d in values if storable(d)]  # out of Decimal128's range: refused as before, not packed

    with decimal.localcontext(decimal.Context(prec=60, Emin=-999_999, Emax=999_999)):
        blob = bytes(pack_decimals(values))
    assert len(blob) == 16 * len(values)
    for i, d in enumerate(values):
        # The same 16 bytes to_d128 (today's per-value Decimal128) writes: same digits, exponent and sign.
        assert blob[16 * i : 16 * i + 16] == to_d128(d).bid
    back = unpack_decimals(blob)
    assert [str(b) for b in back] == [str(to_d128(d).to_decimal()) for d in values]


def test_special_values_and_a_damaged_column():

    values = [Decimal("NaN"), Decimal("-Infinity"), Decimal("-0.00"), Decimal("1E+6111"), Decimal("1E-6176")]
    back = unpack_decimals(bytes(pack_decimals(values)))
    assert back[0].is_nan() and back[1] == Decimal("-Infinity")
    assert [str(d) for d in back[2:]] == ["-0.00", "1E+6111", "1E-6176"]
    with pytest.raises(ValueError, match="not a multiple of 16"):
        unpack_decimals(b"\x00" * 17)


def test_positions_round_trip_through_columns(build):
    positions = tuple(build.record_position(k, adjusted=str(9 + k % 3)) for k in range(7))
    columns = positions_to_columns(positions)
    assert positions_from_columns(columns) == positions
    assert positions_from_columns(positions_to_columns(())) == ()
    broken = {**columns, "transactionType": columns["transactionType"][:-1]}
    with pytest.raises(ValueError, match="different lengths"):
        positions_from_columns(broken)


def test_a_damaged_stored_column_is_a_clear_error_not_a_crash(rebalance_repo, build, mongo):
    saved = rebalance_repo.save_rebalance(build.record(str(ObjectId()), pids(2), positions=3))
    rid = ObjectId(saved.rebalance_id)
    mongo.db.rebalancePortfolios.update_one({"rebalanceId": rid, "index": 0}, {"$set": {"positionColumns.price": b"x"}})

    with pytest.raises(EngineError, match=f"stored rebalance {rid} is malformed"):
        rebalance_repo.get_rebalance(str(rid))


def write_rows_layout(mongo, record) -> ObjectId:
    """A run as the first per-portfolio layout wrote it: a committed header without ``layout``, one sub-document per
    position in each portfolio document."""
    rid = ObjectId()
    mongo.db.rebalances.insert_one({"_id": rid, **record_header_to_doc(record), "state": "committed"})
    mongo.db.rebalancePortfolios.insert_many(
        [
            {"_id": portfolio_part_id(rid, p.portfolio_id), "rebalanceId": rid, "index": i} | record_portfolio_to_doc(p)
            for i, p in enumerate(record.portfolios)
        ]
    )
    return rid


def test_runs_of_one_sub_document_per_position_read_back_and_are_rewritten_once(mongo, build):
    records = [build.record(str(ObjectId()), pids(3, 10 * i), when=T0 + dt.timedelta(days=i)) for i in range(2)]
    ids = [write_rows_layout(mongo, r) for r in records]
    # Readable as they are (the repository of a process that has not migrated yet)...
    plain = RebalanceRepository(mongo.db, create_indexes=False)
    for rec, rid in zip(records, ids, strict=True):
        assert plain.get_rebalance(str(rid)) == rec.model_copy(update={"rebalance_id": str(rid), "version": 1})
    # ... then rewritten as columns at the next start, with the same values.
    repo = RebalanceRepository(mongo.db, create_indexes=False)
    assert repo.recover().to_columns == 2
    assert mongo.db.rebalancePortfolios.count_documents({"positions": {"$exists": True}}) == 0
    assert mongo.db.rebalancePortfolios.count_documents({"positionColumns": {"$exists": True}}) == 6
    assert mongo.db.rebalances.count_documents({"layout": "columns"}) == 2
    for rec, rid in zip(records, ids, strict=True):
        assert repo.get_rebalance(str(rid)) == rec.model_copy(update={"rebalance_id": str(rid), "version": 1})
        one = rec.portfolios[2]
        assert repo.rebalance_positions(str(rid), one.portfolio_id) == list(one.positions)
    before = list(mongo.db.rebalancePortfolios.find({}, sort=[("_id", 1)]))
    assert repo.recover().to_columns == 0  # idempotent
    assert list(mongo.db.rebalancePortfolios.find({}, sort=[("_id", 1)])) == before


def test_a_half_rewritten_run_reads_back_and_the_next_start_finishes_it(mongo, build):
    record = build.record(str(ObjectId()), pids(4), positions=5)
    rid = write_rows_layout(mongo, record)
    # An interrupted migration: two portfolio documents rewritten, the header not yet marked.

    for i in (0, 2):
        p = record.portfolios[i]
        mongo.db.rebalancePortfolios.replace_one(
            {"_id": portfolio_part_id(rid, p.portfolio_id)}, portfolio_part_to_doc(rid, i, p)
        )
    expected = record.model_copy(update={"rebalance_id": str(rid), "version": 1})
    assert RebalanceRepository(mongo.db, create_indexes=False).get_rebalance(str(rid)) == expected
    repo = RebalanceRepository(mongo.db)  # the start: recover() finishes the rewrite
    assert mongo.db.rebalancePortfolios.count_documents({"positions": {"$exists": True}}) == 0
    assert repo.get_rebalance(str(rid)) == expected


def test_a_record_position_with_more_digits_than_decimal128_is_stored_rounded_as_before(rebalance_repo, build):
    long = Decimal("0." + "1234567890" * 4)  # 40 digits: Decimal128 keeps 34, half-even, as to_d128 always did
    base = build.record(str(ObjectId()), pids(1), positions=1)
    position = base.portfolios[0].positions[0].model_copy(update={"actual": long})
    record = base.model_copy(update={"portfolios": (base.portfolios[0].model_copy(update={"positions": (position,)}),)})
    saved = rebalance_repo.save_rebalance(record)
    (got,) = rebalance_repo.get_rebalance(saved.rebalance_id).portfolios[0].positions
    assert got.actual == Decimal128(decimal.Context(prec=34).create_decimal(long)).to_decimal()
    assert isinstance(got, RecordPosition)


# --- blocks of portfolios (issue #12, second pass) -----------------------------------------------------------------


@given(st.lists(st.sampled_from([Decimal("1.0"), Decimal("1.00"), Decimal("-0"), Decimal("12.5E+3")]), max_size=600))
def test_a_column_of_shared_objects_is_packed_once_per_object_with_the_same_bytes(picks):
    """The engine hands every portfolio the same price and band objects: packed once per object and spread. Equal
    values of different exponents (1.0 and 1.00) are different objects here and keep their own bytes."""
    shared = [Decimal("1.0"), Decimal("1.00"), Decimal("-0"), Decimal("12.5E+3")]
    values = [shared[[str(d) for d in shared].index(str(p))] for p in picks]  # the very same objects, repeated
    blob = bytes(pack_decimals(values))
    assert blob == b"".join(to_d128(v).bid for v in values)
    assert [str(d) for d in unpack_decimals(blob)] == [str(v) for v in values]


@pytest.mark.parametrize(
    ("values", "joined"),
    [
        (["a", "bc"], True),
        (["BUY", None, "SELL"], True),
        ([None, None], True),
        (["a\nb", "c"], False),
        (["", "c"], False),
        ([], False),
    ],
)
def test_a_text_column_is_one_string_only_when_it_reads_back_unambiguously(values, joined):
    packed = pack_texts(values)
    assert isinstance(packed, str) is joined
    assert unpack_texts(packed, len(values)) == values
    with pytest.raises(ValueError, match="text column"):
        unpack_texts(packed, len(values) + 1)


def breach(sid: str, side: str, amount: str) -> BandBreach:
    return BandBreach(security_id=sid, side=side, amount=Decimal(amount))


def test_a_run_of_several_blocks_reads_back_whole_and_one_portfolio_at_a_time(rebalance_repo, build, mongo):
    """Portfolios of every size (none, a few, more positions than a block) across several blocks; band breaches
    and names (or none) stay with their portfolio."""
    record = build.record(str(ObjectId()), pids(BLOCK_PORTFOLIOS + 7), positions=2)
    portfolios = list(record.portfolios)
    portfolios[0] = portfolios[0].model_copy(update={"positions": ()})
    wide = tuple(build.record_position(k) for k in range(BLOCK_POSITIONS + 5))
    portfolios[3] = portfolios[3].model_copy(update={"positions": wide, "portfolio_name": None})
    portfolios[-1] = portfolios[-1].model_copy(
        update={"band_breaches": (breach("5" * 24, "low", "12.50"), breach("6" * 24, "high", "0.001"))}
    )
    portfolios[4] = portfolios[4].model_copy(
        update={"portfolio_name": "two\nlines", "band_breaches": (breach("7" * 24, "high", "3"),)}
    )
    record = record.model_copy(update={"portfolios": tuple(portfolios)})
    saved = rebalance_repo.save_rebalance(record)
    head = mongo.db.rebalances.find_one({"_id": ObjectId(saved.rebalance_id)})
    assert head["blocks"] == block_starts(record.portfolios) and len(head["blocks"]) >= 4
    assert head["blocks"][:3] == [0, 3, 4]  # the wide portfolio alone in its block
    assert mongo.db.rebalancePortfolios.count_documents({}) == len(head["blocks"])
    assert rebalance_repo.get_rebalance(saved.rebalance_id) == saved
    for p in record.portfolios:
        assert rebalance_repo.rebalance_positions(saved.rebalance_id, p.portfolio_id) == list(p.positions)
    with pytest.raises(NotFound):
        rebalance_repo.rebalance_positions(saved.rebalance_id, pids(1, 999)[0])
    rebalance_repo.delete_rebalance(saved.rebalance_id, 1, wait=True)
    assert mongo.db.rebalancePortfolios.count_documents({}) == 0 and mongo.db.rebalances.count_documents({}) == 0


def test_runs_saved_one_document_per_portfolio_stay_readable(rebalance_repo, build, mongo):
    """The layout before the blocks (one document per portfolio, positions as columns): read, opened and deleted as
    it is."""
    record = build.record(str(ObjectId()), pids(4), positions=3)
    rid = ObjectId()
    header = {"_id": rid, **record_header_to_doc(record), "state": "committed", "layout": "columns"}
    mongo.db.rebalances.insert_one(header)
    mongo.db.rebalancePortfolios.insert_many(
        [portfolio_part_to_doc(rid, i, p) for i, p in enumerate(record.portfolios)]
    )
    repo = RebalanceRepository(mongo.db)  # a start: nothing to migrate
    expected = record.model_copy(update={"rebalance_id": str(rid), "version": 1})
    assert repo.get_rebalance(str(rid)) == expected
    assert repo.rebalance_positions(str(rid), pids(4)[2]) == list(record.portfolios[2].positions)
    assert mongo.db.rebalancePortfolios.count_documents({"rebalanceId": rid}) == 4
    repo.delete_rebalance(str(rid), 1, wait=True)
    assert mongo.db.rebalancePortfolios.count_documents({}) == 0 and mongo.db.rebalances.count_documents({}) == 0


PACKED_KEYS = [*(column for column, _ in NUMBER_COLUMNS), "tradeQuantity"]


def test_blocks_saved_with_plain_number_columns_stay_readable(rebalance_repo, build, mongo):
    """Blocks written before their number columns were compressed (plain packed bytes) read back and open alone."""
    record = build.record(str(ObjectId()), pids(3), positions=4)
    saved = rebalance_repo.save_rebalance(record)
    rid = ObjectId(saved.rebalance_id)
    (block,) = mongo.db.rebalancePortfolios.find({"rebalanceId": rid})
    plain = {f"positionColumns.{key}": raw_bytes(block["positionColumns"][key]) for key in PACKED_KEYS}
    mongo.db.rebalancePortfolios.update_one({"_id": block["_id"]}, {"$set": plain})
    stored = mongo.db.rebalancePortfolios.find_one({"_id": block["_id"]})["positionColumns"]["price"]
    assert getattr(stored, "subtype", 0) != ZLIB_SUBTYPE  # really plain now
    assert rebalance_repo.get_rebalance(saved.rebalance_id) == saved
    assert rebalance_repo.rebalance_positions(saved.rebalance_id, pids(3)[1]) == list(record.portfolios[1].positions)


def test_a_damaged_compressed_column_is_a_clear_error_not_a_crash(rebalance_repo, build, mongo):
    saved = rebalance_repo.save_rebalance(build.record(str(ObjectId()), pids(2), positions=3))
    rid = ObjectId(saved.rebalance_id)
    damaged = Binary(b"not zlib", ZLIB_SUBTYPE)
    mongo.db.rebalancePortfolios.update_one({"rebalanceId": rid}, {"$set": {"positionColumns.target": damaged}})
    with pytest.raises(EngineError, match=f"stored rebalance {rid} is malformed"):
        rebalance_repo.get_rebalance(str(rid))
    with pytest.raises(EngineError, match="malformed"):
        rebalance_repo.rebalance_positions(str(rid), pids(2)[0])


def test_compressed_columns_round_trip_exactly():
    blob = pack_decimals([Decimal("1.50"), Decimal("-0"), Decimal("12345678901234567890.123")] * 50)
    stored = compressed(blob)
    assert stored.subtype == ZLIB_SUBTYPE and len(stored) < len(blob)
    assert raw_bytes(stored) == blob and raw_bytes(blob) == blob
