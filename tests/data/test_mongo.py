"""data.mongo: the client factory's URI forms, indexes, time zones, persistence and typed connection errors."""

from __future__ import annotations

import datetime as dt
import socket

import pymongo
import pytest
from bson import Decimal128

from data.mongo import (
    DEFAULT_URI,
    describe_backend,
    get_client,
    get_database,
    redact_uri,
    sqlite_path,
)
from data.repositories import ModelRepository, ensure_indexes
from engine.errors import InvalidInput, ServiceUnavailable

WHEN = dt.datetime(2025, 6, 30, 23, 59, 59, 999000, tzinfo=dt.UTC)


def roundtrip(client):
    col = get_database(client).probe
    col.insert_one({"_id": 1, "when": WHEN, "value": Decimal128("0.020")})
    doc = col.find_one({"_id": 1})
    return doc["when"], doc["value"]


def test_default_is_embedded_sqlite_under_var(monkeypatch, tmp_path):
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    client = get_client()
    try:
        when, value = roundtrip(client)
    finally:
        client.close()
    assert (tmp_path / "var" / "app.sqlite3").is_file()
    assert when == WHEN and when.tzinfo is not None and value == Decimal128("0.020")
    assert DEFAULT_URI == "mongoeco:///var/app.sqlite3"
    assert describe_backend() == "embedded mongoeco (SQLite file var/app.sqlite3)"


def test_environment_variable_selects_the_backend_and_data_survives_a_restart(monkeypatch, tmp_path):
    path = tmp_path / "sub" / "db.sqlite3"
    monkeypatch.setenv("MONGODB_URI", f"mongoeco:///{path}")  # four slashes: an absolute path
    assert sqlite_path(f"mongoeco:///{path}") == str(path)
    client = get_client()
    roundtrip(client)
    client.close()
    assert path.is_file()
    again = get_client()
    try:
        doc = get_database(again).probe.find_one({"_id": 1})
    finally:
        again.close()
    assert doc["when"] == WHEN and doc["when"].utcoffset() == dt.timedelta(0)


def test_memory_backend_is_tz_aware():
    client = get_client("mongoeco+memory://")
    try:
        when, value = roundtrip(client)
    finally:
        client.close()
    assert when == WHEN and when.tzinfo is not None and value.to_decimal().as_tuple().exponent == -3


def test_mongodb_uri_gives_a_tz_aware_pymongo_client(mongo_wire_uri):
    client = get_client(mongo_wire_uri)
    try:
        assert isinstance(client, pymongo.MongoClient) and client.codec_options.tz_aware
        when, _ = roundtrip_in(client, "factory-probe")
    finally:
        client.drop_database("factory-probe")
        client.close()
    assert when == WHEN and when.utcoffset() == dt.timedelta(0)


def roundtrip_in(client, name):
    col = client[name].probe
    col.insert_one({"when": WHEN, "value": Decimal128("1")})
    doc = col.find_one()
    return doc["when"], doc["value"]


def test_unknown_scheme_is_invalid_input():
    with pytest.raises(InvalidInput, match="MONGODB_URI"):
        get_client("postgres://user:secret@host/db")


def test_ensure_indexes_is_idempotent(mongo):
    ensure_indexes(mongo.db)
    ensure_indexes(mongo.db)
    models = mongo.db.models.index_information()
    rebalances = mongo.db.rebalances.index_information()
    portfolios = mongo.db.rebalancePortfolios.index_information()
    assert models["name_unique"]["unique"] and models["portfolio_owner_unique"]["unique"]
    assert {"state_newest_first", "portfolio_id", "model_id"} <= set(rebalances)
    assert "rebalance_id" in portfolios


def test_an_unreachable_server_is_service_unavailable():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = get_client(f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=200&connectTimeoutMS=200")
    try:
        with pytest.raises(ServiceUnavailable) as err:
            ModelRepository(get_database(client))
    finally:
        client.close()
    assert err.value.details["service"] == "MongoDB" and "Topology" not in err.value.message


def test_redaction_hides_passwords():
    assert redact_uri("mongodb://app:s3cret@db.example:27017/x") == "mongodb://app:***@db.example:27017/x"
    assert "s3cret" not in describe_backend("mongodb+srv://app:s3cret@cluster.example/")
    assert describe_backend("mongoeco+memory://") == "embedded mongoeco (in memory)"


def test_ensure_indexes_on_an_unreachable_server_is_service_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = get_client(f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=200&connectTimeoutMS=200")
    try:
        with pytest.raises(ServiceUnavailable):
            ensure_indexes(get_database(client))
    finally:
        client.close()


def test_an_unwritable_embedded_folder_is_service_unavailable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ServiceUnavailable, match="embedded database"):
        get_client(f"mongoeco:///{blocker}/sub/db.sqlite3")
