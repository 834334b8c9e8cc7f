"""data.mongoeco_codec: the embedded engine's faster codec stores exactly what mongoeco's own codec stores."""

from __future__ import annotations

import datetime as dt
import pickle
import sqlite3
from copy import deepcopy
from decimal import Decimal

import bson
import mongoeco
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mongoeco.core.codec import DocumentCodec
from mongoeco.engines import SQLiteEngine
from mongoeco.types import Decimal128 as MongoecoDecimal128

from data import mongoeco_codec
from data.documents import WriteOnceDocument, record_to_doc, to_d128
from data.mongo import get_client, get_database
from data.mongoeco_codec import FastDocumentCodec, codec_for_engine
from data.repositories import RebalanceRepository

MARKER = DocumentCodec._MARKER

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.decimals(allow_nan=False, allow_infinity=False, places=None)
    .filter(lambda d: len(d.as_tuple().digits) <= 34)
    .map(to_d128),
    st.datetimes(min_value=dt.datetime(1970, 1, 1)).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)),
    st.builds(bson.ObjectId),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=5).filter(lambda k: not k.startswith("$")), inner, max_size=4),
    ),
    max_leaves=30,
)


def both_encode(public: dict) -> tuple:
    internal = DocumentCodec.to_internal(deepcopy(public))
    return FastDocumentCodec.encode(internal), DocumentCodec.encode(internal)


@settings(max_examples=150)
@given(st.dictionaries(st.text(max_size=5).filter(lambda k: not k.startswith("$")), VALUES, max_size=5))
def test_same_encoding_and_decoding_as_mongoecos_codec(document):
    fast, stock = both_encode(document)
    assert fast == stock
    for preserve in (True, False):
        assert FastDocumentCodec.decode(stock, preserve_bson_wrappers=preserve) == DocumentCodec.decode(
            stock, preserve_bson_wrappers=preserve
        )


def test_a_rebalance_record_document_encodes_identically(build):
    record = build.record(build.hex_id(1, "b"), [build.hex_id(i) for i in range(3)], positions=4)
    fast, stock = both_encode({"_id": bson.ObjectId(), **record_to_doc(record)})
    assert fast == stock
    assert FastDocumentCodec.decode(stock, preserve_bson_wrappers=True) == DocumentCodec.decode(
        stock, preserve_bson_wrappers=True
    )


def test_a_user_document_shaped_like_a_codec_tag_stays_a_document():
    document = {"x": {MARKER: {"type": "decimal128_public", "value": "1"}}}
    fast, stock = both_encode(document)
    assert fast == stock and fast["x"][MARKER]["type"] == "dict"  # escaped, not read back as a number
    assert FastDocumentCodec.decode(fast, preserve_bson_wrappers=True) == document


@pytest.mark.parametrize(
    "value",
    [{1: "non-string key"}, [2**63], {"nested": [{"s": {1, 2}}]}],
    ids=["int key", "int64 overflow", "set"],
)
def test_values_bson_cannot_hold_fail_the_same_way(value):
    errors = []
    for codec in (FastDocumentCodec, DocumentCodec):
        with pytest.raises((TypeError, OverflowError)) as caught:
            codec.encode(value)
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]


def test_the_self_check_picks_the_fast_codec_and_falls_back_when_it_disagrees(monkeypatch):
    assert codec_for_engine() is FastDocumentCodec
    monkeypatch.setattr(mongoeco_codec, "_encode", lambda data: {"changed": True})
    assert codec_for_engine() is DocumentCodec


def test_files_written_by_either_codec_read_back_the_same_with_the_other(tmp_path, build):
    """Existing databases stay readable: the stored JSON of the stock and the fast codec is the same text."""
    record = build.record(build.hex_id(1, "b"), [build.hex_id(i) for i in range(2)], positions=3)
    doc = {"_id": bson.ObjectId(), **record_to_doc(record)}
    codec = mongoeco.CodecOptions(tz_aware=True, tzinfo=dt.UTC)
    paths = {}
    for codec_class in (DocumentCodec, FastDocumentCodec):
        paths[codec_class] = path = tmp_path / f"{codec_class.__name__}.sqlite3"
        client = mongoeco.MongoClient(SQLiteEngine(str(path), codec=codec_class), codec_options=codec)
        get_database(client).rebalances.insert_many([deepcopy(doc)])
        client.close()
    stored = []
    for path in paths.values():
        with sqlite3.connect(path) as conn:
            stored.append(conn.execute("SELECT document FROM documents").fetchall())
    assert stored[0] == stored[1] and len(stored[0]) == 1
    for path in paths.values():
        client = get_client(f"mongoeco:///{path}")  # the app's client (fast codec) reads both files
        try:
            assert get_database(client).rebalances.find_one({"_id": doc["_id"]}) == doc
        finally:
            client.close()
    assert doc["portfolios"][0]["positions"][0]["price"] == bson.Decimal128(Decimal("12.34"))


# --- the command-boundary fast paths (issue #12): same internal values and same public values as mongoeco's own -----

DOCUMENTS = st.dictionaries(st.text(max_size=5).filter(lambda k: not k.startswith("$")), VALUES, max_size=5)


@settings(max_examples=150)
@given(DOCUMENTS)
def test_the_fast_boundary_builds_exactly_what_mongoeco_builds(document):
    stock_internal = mongoeco_codec._STOCK_TO_INTERNAL(deepcopy(document))
    for given_doc in (document, WriteOnceDocument(document)):
        assert mongoeco_codec._same(mongoeco_codec.fast_to_internal(given_doc), stock_internal)
    assert mongoeco_codec._same(
        mongoeco_codec.fast_to_pymongo(stock_internal), mongoeco_codec._STOCK_TO_PYMONGO(stock_internal)
    )


@settings(max_examples=300)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(lambda d: len(d.as_tuple().digits) <= 34))
def test_a_stored_decimal_has_bsons_bytes_whenever_they_are_asked_for(value):
    stored, plain = to_d128(value), bson.Decimal128(value)
    assert stored == plain and stored.bid == plain.bid and stored.to_decimal().as_tuple() == value.as_tuple()
    assert pickle.loads(pickle.dumps(stored)).bid == plain.bid
    assert bson.decode(bson.encode({"v": stored}))["v"] == plain  # pymongo's C encoder reads the lazy bytes


def test_the_fast_paths_can_be_switched_off_and_on_again():
    assert mongoeco_codec.install_fast_paths()
    with mongoeco_codec.stock_paths():
        assert DocumentCodec.to_internal is mongoeco_codec._STOCK_TO_INTERNAL
        assert not hasattr(MongoecoDecimal128, "__deepcopy__")
    assert DocumentCodec.to_internal is mongoeco_codec.fast_to_internal
    value = MongoecoDecimal128(Decimal("1.50"))
    assert deepcopy(value) is value


def test_a_run_saved_with_the_fast_paths_reads_back_equal_with_mongoecos_own(tmp_path, build):
    record = build.record(build.hex_id(1, "b"), [build.hex_id(i) for i in range(3)], positions=4)
    client = get_client(f"mongoeco:///{tmp_path}/x.sqlite3")
    try:
        saved = RebalanceRepository(get_database(client)).save_rebalance(record)
        with mongoeco_codec.stock_paths():
            assert RebalanceRepository(get_database(client)).get_rebalance(saved.rebalance_id) == saved
    finally:
        client.close()


# --- issue #12, second pass: packed columns without the stock detour, and one serialisation per written document ---


def test_packed_columns_take_the_fast_paths_and_give_the_stock_values():
    document = {"b": bson.Binary(bytes(range(40))), "empty": bson.Binary(b""), "typed": bson.Binary(b"\x01", 5)}
    stock_internal = mongoeco_codec._STOCK_TO_INTERNAL(deepcopy(document))
    assert mongoeco_codec._same(mongoeco_codec.fast_to_internal(document), stock_internal)
    fast, stock = FastDocumentCodec.encode(stock_internal), DocumentCodec.encode(stock_internal)
    assert fast == stock
    for preserve in (True, False):
        assert FastDocumentCodec.decode(stock, preserve_bson_wrappers=preserve) == DocumentCodec.decode(
            stock, preserve_bson_wrappers=preserve
        )


def outbox_hashes(path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT event_kind, effect_hash FROM change_outbox_identities ORDER BY sequence").fetchall()


def test_the_change_outbox_gets_the_stock_entries_from_one_serialisation_per_document(tmp_path, build):
    """mongoeco appends every write to its change outbox, serialising the whole document a second time; the fast
    engine reuses the row's text. Same outbox entries (their SHA-256) as the stock engine for inserts, updates and
    replaces; and it fails here, loudly, if a mongoeco upgrade stops handing the entry to the engine's serialiser."""
    record = build.record(build.hex_id(1, "b"), [build.hex_id(i) for i in range(3)], positions=4)
    docs = [{"_id": bson.ObjectId(), **record_to_doc(record)} for _ in range(3)]
    codec = mongoeco.CodecOptions(tz_aware=True, tzinfo=dt.UTC)
    hashes = []
    for name, engine_class in (("stock", SQLiteEngine), ("fast", mongoeco_codec.engine_class())):
        path = tmp_path / f"{name}.sqlite3"
        engine = engine_class(str(path), codec=codec_for_engine())
        client = mongoeco.MongoClient(engine, codec_options=codec)
        col = get_database(client).rebalances
        col.insert_many([WriteOnceDocument(d) for d in deepcopy(docs)])
        col.insert_one(deepcopy(docs[0]) | {"_id": "one"})
        col.update_one({"_id": docs[1]["_id"]}, {"$set": {"modelName": "renamed"}})
        col.replace_one({"_id": docs[2]["_id"]}, deepcopy(docs[0]) | {"_id": docs[2]["_id"], "version": 7})
        assert col.find_one({"_id": docs[1]["_id"]})["modelName"] == "renamed"
        client.close()
        hashes.append(outbox_hashes(path))
        if name == "fast":
            assert engine_class is mongoeco_codec.FastSQLiteEngine
            assert engine.outbox_reuses >= 4, "mongoeco no longer serialises its outbox entries through the engine"
    assert len(hashes[0]) == 6 and all(kind == "gap" for kind, _ in hashes[0])
    assert hashes[0] == hashes[1]
