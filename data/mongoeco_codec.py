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

import contextlib
import datetime as dt
import weakref
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import bson
from mongoeco.core.bson_scalars import INT64_MAX, INT64_MIN, normalize_utc_bson_datetime
from mongoeco.core.codec import DocumentCodec, _InternalBsonArray, _InternalBsonBinary, _InternalBsonDocument
from mongoeco.engines import SQLiteEngine
from mongoeco.types import Binary, Decimal128, ObjectId

try:
    from mongoeco.engines._sqlite_reader import _serialized_document_size_estimate as _size_estimate
except ImportError:  # a later mongoeco: FastSQLiteEngine is not used (see engine_class)
    _size_estimate = None

from data.documents import StoredDecimal128, WriteOnceDocument, _fast_d128

_MARKER = DocumentCodec._MARKER
_PASS_THROUGH = frozenset((str, bool, float, type(None)))
_DICTS = frozenset((dict, _InternalBsonDocument))
_LISTS = frozenset((list, tuple, _InternalBsonArray))
_KEYS_MUST_BE_STRINGS = "BSON document keys must be strings"  # the stock codec's message


def _internal_d128(value: Decimal) -> Decimal128:
    """mongoeco's ``Decimal128(value)`` for a value it wrote itself (already in the Decimal128 context).

    Stored strings come from ``str`` of normalised values, so the context's ``create_decimal`` in the constructor is
    the identity; the object is built without it (the sample check of ``codec_for_engine`` compares the results).
    """
    out = object.__new__(Decimal128)
    object.__setattr__(out, "value", value)
    return out


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
    if kind is _InternalBsonBinary:  # the packed position columns (data/record_columns.py)
        return {_MARKER: {"type": "binary", "value": {"hex": data.hex(), "subtype": data.subtype}}}
    if kind is dt.datetime:
        return {_MARKER: {"type": "datetime", "value": normalize_utc_bson_datetime(data).isoformat()}}
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
        if _MARKER in data:
            payload = data[_MARKER]
            # The stock tag test, with the common case (a decimal) first.
            if (
                len(data) == 1
                and type(payload) is dict
                and len(payload) == 2
                and payload.get("type") == "decimal128_public"
                and type(payload.get("value")) is str
            ):
                return _internal_d128(Decimal(payload["value"]))
            if _is_binary_tag(data, payload):
                value = payload["value"]
                return Binary(bytes.fromhex(value["hex"]), value["subtype"])
            if DocumentCodec._is_tagged_value(data):
                return DocumentCodec.decode(data, preserve_bson_wrappers=preserve_bson_wrappers)
        return {key: _decode(value, preserve_bson_wrappers) for key, value in data.items()}
    if kind is list:
        return [_decode(value, preserve_bson_wrappers) for value in data]
    if kind in _PASS_THROUGH or kind is int:
        return data  # JSON scalars
    return DocumentCodec.decode(data, preserve_bson_wrappers=preserve_bson_wrappers)


def _is_binary_tag(data: dict[str, Any], payload: Any) -> bool:
    """The stock tag test for a ``binary`` value whose hex text and subtype are as the stock codec writes them."""
    if len(data) != 1 or type(payload) is not dict or len(payload) != 2 or payload.get("type") != "binary":
        return False
    value = payload.get("value")
    return (
        type(value) is dict
        and len(value) == 2
        and type(value.get("hex")) is str
        and type(value.get("subtype")) is int
        and 0 <= value["subtype"] <= 255
    )


class FastDocumentCodec(DocumentCodec):
    """``DocumentCodec`` with fast paths for plain containers, scalars, ``Decimal128`` and ``Binary`` (same output)."""

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
            "bin": [bson.Binary(b"\x00\x01\xfe"), bson.Binary(b"", 5), Binary(b"ab", 4)],
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


# --- the command boundary: public documents in, internal values out (issue #12) -------------------------------------
#
# Every document a collection method receives goes through ``DocumentCodec.to_internal`` (encode to tagged JSON,
# decode, wrap as immutable internal containers) and every document it returns through ``DocumentCodec.to_pymongo``
# (internal ``Decimal128`` → ``bson.Decimal128`` parsed from its string). Both walk each of the ~400 values of a
# portfolio of a saved run value by value; the fast versions below build the same results directly for the shapes our
# documents have and hand every other value to the stock code. ``install_fast_paths`` checks them against the stock
# functions on a sample first and leaves mongoeco untouched if anything differs.

_STOCK_TO_INTERNAL: Callable[[Any], Any] = DocumentCodec.to_internal
_STOCK_TO_PYMONGO: Callable[[Any], Any] = DocumentCodec.to_pymongo
_SCALARS = frozenset((str, bool, float, type(None)))


def _internal(data: Any) -> Any:
    kind = type(data)
    if kind in _SCALARS:
        return data
    if kind is dict or kind is WriteOnceDocument:
        out = {}
        for key, value in data.items():
            if type(key) is not str:
                return _STOCK_TO_INTERNAL(data)  # the stock error
            out[key] = _internal(value)
        if _MARKER in out:
            return _STOCK_TO_INTERNAL(data)  # a user document that looks like a tag
        return _InternalBsonDocument(out)
    if kind is list:
        return _InternalBsonArray([_internal(value) for value in data])
    if kind is StoredDecimal128:  # finite, ≤ 34 digits, unclamped exponent by construction: the context is identity
        return _internal_d128(data.to_decimal())
    if kind is int and INT64_MIN <= data <= INT64_MAX:
        return data
    if kind is bson.Binary:  # the packed position columns; the stock path goes through their hex text and back
        return _InternalBsonBinary(data, data.subtype)
    if kind is dt.datetime:  # the stock path: to naive UTC milliseconds, through its ISO text and back
        return dt.datetime.fromisoformat(normalize_utc_bson_datetime(data).isoformat())
    return _STOCK_TO_INTERNAL(data)  # datetimes, ObjectIds, tuples, bson wrappers, errors, ...


def fast_to_internal(data: Any) -> Any:
    """``DocumentCodec.to_internal`` with direct paths for plain containers, scalars and ``StoredDecimal128``."""
    if isinstance(data, (_InternalBsonDocument, _InternalBsonArray)):
        return data
    return _internal(data)


def fast_to_pymongo(data: Any) -> Any:
    """``DocumentCodec.to_pymongo`` with internal ``Decimal128`` built as ``StoredDecimal128`` (same BID bytes)."""
    if type(data) is Decimal128:
        fast = _fast_d128(data.value)
        if fast is not None:
            return fast
    return _STOCK_TO_PYMONGO(data)


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (bson Decimal128 compared by its bytes)."""
    if isinstance(a, bson.Decimal128) and isinstance(b, bson.Decimal128):
        return a.bid == b.bid
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _public_sample() -> dict[str, Any]:
    from data.documents import to_d128

    return {
        "_id": bson.ObjectId("0123456789abcdef01234567"),
        "s": "x",
        "n": None,
        "b": True,
        "i": 7,
        "big": 2**40,
        "f": 1.5,
        "when": dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        "nested": [
            {"d": to_d128(Decimal("0.020")), "neg": to_d128(Decimal("-1E+3")), "zero": to_d128(Decimal("-0.00"))},
            {"long": to_d128(Decimal("0.1234567890123456789012345678")), "plain": bson.Decimal128("12.5")},
            [1, "a", None, [to_d128(Decimal("1E-30"))]],
        ],
        "bin": [bson.Binary(b"\x00\x01\xfe"), bson.Binary(b"", 5), Binary(b"ab", 4)],
        "looks_tagged": {_MARKER: {"type": "x", "value": 1}},
        "empty": {},
        "tuple": (1, 2),
    }


# The document mongoeco's SQLite engine hands to ``_serialize_document`` for each change-outbox entry
# (``_sqlite_outbox.append_change``): these keys in this order, the stored document under ``full_document``.
_OUTBOX_KEYS = ("operation_type", "db_name", "coll_name", "document_key", "full_document", "update_description")
_OUTBOX_TAIL = ',"full_document":null,"update_description":null}'


class FastSQLiteEngine(SQLiteEngine):
    """``SQLiteEngine`` with two shortcuts that keep its stored text and its decoded values exactly:

    - read batches are sized from the stored JSON text with ``FastDocumentCodec`` too. mongoeco estimates a decoded
      document's memory from its JSON length when the engine uses the stock codec and otherwise walks the whole
      decoded tree with ``sys.getsizeof`` (a fifth of reading a saved run). Our codec decodes to exactly the stock
      values, so the stock estimate holds;
    - a written document is serialised once, not twice. Every write also appends an entry to mongoeco's change
      outbox, even with no change stream open (then only its SHA-256 is kept), and that entry embeds the whole
      stored document, which was serialised for the row a moment before. The row's text is remembered for as long
      as the (immutable) internal document lives and spliced into the entry's text: the same characters the stock
      code produces (``tests/data/test_repo_storage_codec.py`` compares the outbox hashes with the stock engine's
      and fails if mongoeco stops passing the entry through here).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._texts: dict[int, tuple[weakref.ref[Any], str]] = {}
        self.outbox_reuses = 0  # outbox entries built from a remembered row text (read by the tests)

    def _project_sql_scan_rows(self, rows: Any, semantics: Any, reader: Any) -> Any:
        if semantics.projection is None and self._codec is FastDocumentCodec:
            return (
                reader.attach_size_hint(self._deserialize_document(payload), _size_estimate(payload))
                for (payload,) in rows
            )
        return super()._project_sql_scan_rows(rows, semantics, reader)

    def _serialize_document(self, document: Any) -> str:
        if type(document) is dict and tuple(document) == _OUTBOX_KEYS:
            full = document["full_document"]
            entry = self._texts.get(id(full))
            if entry is not None and entry[0]() is full and document["update_description"] is None:
                head = super()._serialize_document({**document, "full_document": None})
                if head.endswith(_OUTBOX_TAIL):
                    self.outbox_reuses += 1
                    return f'{head[: -len(_OUTBOX_TAIL)]},"full_document":{entry[1]},"update_description":null}}'
        text = super()._serialize_document(document)
        if type(document) is _InternalBsonDocument:  # immutable: its text cannot go stale
            self._remember(document, text)
        return text

    def _remember(self, document: Any, text: str) -> None:
        key, texts = id(document), self._texts

        def forget(ref: weakref.ref[Any]) -> None:
            if texts.get(key, (None,))[0] is ref:
                texts.pop(key, None)

        texts[key] = (weakref.ref(document, forget), text)


def engine_class() -> type[SQLiteEngine]:
    """``FastSQLiteEngine`` while mongoeco has the hooks it relies on, else the stock ``SQLiteEngine``."""
    if _size_estimate is None or not callable(getattr(SQLiteEngine, "_project_sql_scan_rows", None)):
        return SQLiteEngine
    return FastSQLiteEngine


def _deepcopy_self[T](self: T, memo: dict[int, Any] | None = None) -> T:
    return self


_INSTALLED: dict[str, Any] = {}


def install_fast_paths() -> bool:
    """Swap in ``fast_to_internal``/``fast_to_pymongo`` and free copies of the immutable internal ``Decimal128``.

    Process-wide and idempotent; done only when the fast functions give exactly the stock results on a sample.
    Returns whether the fast paths are in place.
    """
    if _INSTALLED:
        return True
    try:
        sample = _public_sample()
        internal = fast_to_internal(sample)
        same = _same(internal, _STOCK_TO_INTERNAL(sample)) and _same(
            fast_to_pymongo(internal), _STOCK_TO_PYMONGO(internal)
        )
    except Exception:  # a changed mongoeco internals: keep the stock code
        return False
    if not same:
        return False
    _INSTALLED.update(
        to_internal=DocumentCodec.__dict__["to_internal"],
        to_pymongo=DocumentCodec.__dict__["to_pymongo"],
        copy=Decimal128.__dict__.get("__copy__"),
        deepcopy=Decimal128.__dict__.get("__deepcopy__"),
    )
    DocumentCodec.to_internal = staticmethod(fast_to_internal)  # type: ignore[method-assign]
    DocumentCodec.to_pymongo = staticmethod(fast_to_pymongo)  # type: ignore[method-assign]
    # A frozen dataclass holding an immutable Decimal: a copy is the value itself (mongoeco deep-copies every
    # document it inserts, returns or deletes).
    Decimal128.__copy__ = _deepcopy_self  # type: ignore[attr-defined]
    Decimal128.__deepcopy__ = _deepcopy_self  # type: ignore[attr-defined]
    return True


def uninstall_fast_paths() -> None:
    """Put mongoeco's own functions back (benchmarks time today's code next to the stock paths)."""
    if not _INSTALLED:
        return
    DocumentCodec.to_internal = _INSTALLED["to_internal"]  # type: ignore[method-assign]
    DocumentCodec.to_pymongo = _INSTALLED["to_pymongo"]  # type: ignore[method-assign]
    for name, key in (("__copy__", "copy"), ("__deepcopy__", "deepcopy")):
        if _INSTALLED[key] is None:
            delattr(Decimal128, name)
        else:
            setattr(Decimal128, name, _INSTALLED[key])
    _INSTALLED.clear()


@contextlib.contextmanager
def stock_paths() -> Iterator[None]:
    """mongoeco's own boundary functions for the duration of the block (benchmark baselines)."""
    was = bool(_INSTALLED)
    uninstall_fast_paths()
    try:
        yield
    finally:
        if was:
            install_fast_paths()
