"""A faster storage codec for the embedded mongoeco SQLite engine (same stored JSON, byte for byte).

mongoeco's ``SQLiteEngine(path, codec=...)`` turns every internal document into tagged JSON on write (twice per
insert: the row and the change-outbox fingerprint) and back on read. Its ``DocumentCodec`` re-validates the whole
subtree at every nesting level and walks a long ``isinstance`` chain per value, which dominates saving and reading a
1,000-portfolio rebalance record (~330,000 values; see ``bench/bench_storage.py``).

``FastDocumentCodec`` handles the value types our documents are made of (dicts, lists, strings, ints, floats, bools,
None and mongoeco's internal ``Decimal128``) with exact type checks and hands everything else to ``DocumentCodec``
unchanged, so the encoded form, the decoded values and the errors are the stock codec's. ``codec_for_engine()``
checks that equivalence on a sample document once and falls back to the stock codec if a mongoeco upgrade ever
changes the format.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from mongoeco.core.bson_scalars import INT64_MAX, INT64_MIN
from mongoeco.core.codec import DocumentCodec, _InternalBsonArray, _InternalBsonDocument
from mongoeco.types import Decimal128, ObjectId

_MARKER = DocumentCodec._MARKER
_PASS_THROUGH = frozenset((str, bool, float, type(None)))
_DICTS = frozenset((dict, _InternalBsonDocument))
_LISTS = frozenset((list, tuple, _InternalBsonArray))
_KEYS_MUST_BE_STRINGS = "BSON document keys must be strings"  # the stock codec's message


def _encode(data: Any) -> Any:
    kind = type(data)
    if kind in _PASS_THROUGH:
        return data
    if kind is int:
        if INT64_MIN <= data <= INT64_MAX:
            return data
        return DocumentCodec.encode(data)  # raises the stock overflow error
    if kind is Decimal128:  # already normalised to the Decimal128 context when it became internal
        return {_MARKER: {"type": "decimal128_public", "value": str(data.value)}}
    if kind in _DICTS:
        for key in data:
            if not isinstance(key, str):
                raise TypeError(_KEYS_MUST_BE_STRINGS)
        encoded = {key: _encode(value) for key, value in data.items()}
        if _MARKER in encoded and DocumentCodec._is_tagged_value(encoded):
            return DocumentCodec._tagged_value("dict", encoded)  # a user document that looks like a tag
        return encoded
    if kind in _LISTS:
        return [_encode(value) for value in data]
    return DocumentCodec.encode(data)  # datetimes, ObjectIds, bson wrappers, SON, sets (error), ...


def _decode(data: Any, preserve_bson_wrappers: bool) -> Any:
    kind = type(data)
    if kind is dict:
        if _MARKER in data and DocumentCodec._is_tagged_value(data):
            payload = data[_MARKER]
            if payload["type"] == "decimal128_public":
                return Decimal128(payload["value"])
            return DocumentCodec.decode(data, preserve_bson_wrappers=preserve_bson_wrappers)
        return {key: _decode(value, preserve_bson_wrappers) for key, value in data.items()}
    if kind is list:
        return [_decode(value, preserve_bson_wrappers) for value in data]
    if kind in _PASS_THROUGH or kind is int:
        return data  # JSON scalars
    return DocumentCodec.decode(data, preserve_bson_wrappers=preserve_bson_wrappers)


class FastDocumentCodec(DocumentCodec):
    """``DocumentCodec`` with fast paths for plain containers, scalars and ``Decimal128`` (same output)."""

    @staticmethod
    def encode(data: Any) -> Any:
        return _encode(data)

    @staticmethod
    def decode(data: Any, *, preserve_bson_wrappers: bool = False) -> Any:
        return _decode(data, preserve_bson_wrappers)


def _sample() -> dict[str, Any]:
    """A document with every shape the fast paths take, plus a few they hand on to the stock codec."""
    when = dt.datetime(2025, 1, 2, 3, 4, 5, 678000)
    return DocumentCodec.to_internal(
        {
            "_id": ObjectId("0123456789abcdef01234567"),
            "s": "x",
            "n": None,
            "b": True,
            "i": 7,
            "big": 2**40,
            "f": 1.5,
            "when": when,
            "nested": [{"d": Decimal128(Decimal("0.020")), "neg": Decimal128(Decimal("-1E+3")), "list": [1, "a"]}],
            "looks_tagged": {_MARKER: {"type": "x", "value": 1}},
            "empty": {},
            "tuple": (1, 2),
        }
    )


def codec_for_engine() -> type[DocumentCodec]:
    """``FastDocumentCodec`` if it encodes and decodes the sample exactly like ``DocumentCodec``, else the stock one."""
    try:
        doc = _sample()
        encoded = FastDocumentCodec.encode(doc)
        same = encoded == DocumentCodec.encode(doc) and all(
            FastDocumentCodec.decode(encoded, preserve_bson_wrappers=p)
            == DocumentCodec.decode(encoded, preserve_bson_wrappers=p)
            for p in (True, False)
        )
    except Exception:  # any surprise from a changed mongoeco internals: use the stock codec
        return DocumentCodec
    return FastDocumentCodec if same else DocumentCodec
