"""MongoDB client factory, database handle and indexes (storage.md §1).

``MONGODB_URI`` picks the backend with no code change:

- unset: embedded mongoeco on the SQLite file ``var/app.sqlite3`` (relative to the working directory, git-ignored);
- ``mongoeco:///relative/file.sqlite3`` (four slashes for an absolute path): embedded mongoeco on that file;
- ``mongoeco+memory://``: embedded, in memory;
- ``mongodb://…`` / ``mongodb+srv://…``: ``pymongo.MongoClient(uri, tz_aware=True)`` (a real server, or the
  mongoeco wire server in tests).

Every backend is used through the pymongo API only, and datetimes always come back tz-aware (UTC). Collections and
their indexes belong to the repositories (``data.repositories.ensure_indexes``); this module imports none of them.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any
from urllib.parse import urlparse, urlunparse

import pymongo

from engine.errors import InvalidInput, ServiceUnavailable

DEFAULT_URI = "mongoeco:///var/app.sqlite3"
DEFAULT_PATH = "var/app.sqlite3"
DATABASE_NAME = "order-generation"
MEMORY_URI = "mongoeco+memory://"


def resolve_uri(uri: str | None = None) -> str:
    """The effective URI: the argument, else ``MONGODB_URI``, else the embedded SQLite default."""
    return uri or os.environ.get("MONGODB_URI") or DEFAULT_URI


def get_client(uri: str | None = None) -> Any:
    """A pymongo-compatible client for ``uri`` (see the module docstring for the forms).

    Raises ``InvalidInput`` for an unknown scheme; the embedded file's folder is created when missing.
    """
    uri = resolve_uri(uri)
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        return pymongo.MongoClient(uri, tz_aware=True)
    if not uri.startswith(("mongoeco://", MEMORY_URI)):
        raise InvalidInput(
            "MONGODB_URI must start with mongodb://, mongodb+srv://, mongoeco:// or be mongoeco+memory://",
            {"field": "MONGODB_URI", "value": redact_uri(uri)},
        )
    import mongoeco  # imported lazily: about a second, and not needed with a real server

    # mongoeco's own CodecOptions (bson's is ignored by the embedded client): without it datetimes come back naive.
    codec = mongoeco.CodecOptions(tz_aware=True, tzinfo=dt.UTC)
    from data.mongoeco_codec import install_fast_paths

    install_fast_paths()  # the same values at the command boundary, built directly (data/mongoeco_codec.py)
    if uri.startswith(MEMORY_URI):
        return mongoeco.MongoClient(codec_options=codec)
    path = sqlite_path(uri)
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    except OSError as exc:
        raise ServiceUnavailable(
            f"cannot create the folder of the embedded database {path}: {exc}", {"service": "MongoDB"}
        ) from exc
    from data.mongoeco_codec import codec_for_engine, engine_class

    # Same stored JSON as mongoeco's own codec, several times faster on big documents (data/mongoeco_codec.py).
    return mongoeco.MongoClient(engine_class()(path, codec=codec_for_engine()), codec_options=codec)


def sqlite_path(uri: str) -> str:
    """The SQLite file of a ``mongoeco://`` URI: ``mongoeco:///a/b`` → ``a/b``; ``mongoeco:////a/b`` → ``/a/b``."""
    return urlparse(uri).path[1:] or DEFAULT_PATH


def get_database(client: Any, name: str = DATABASE_NAME) -> Any:
    """The application database (``order-generation``, product-spec 1.1)."""
    return client[name]


def redact_uri(uri: str) -> str:
    """The URI with any password replaced by ``***`` (safe to show or log)."""
    parsed = urlparse(uri)
    if parsed.password is None:
        return uri
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return urlunparse(parsed._replace(netloc=netloc))


def describe_backend(uri: str | None = None) -> str:
    """A short human description of the backend ``uri`` selects (for a status line in the UI)."""
    uri = resolve_uri(uri)
    if uri.startswith(MEMORY_URI):
        return "embedded mongoeco (in memory)"
    if uri.startswith("mongoeco://"):
        return f"embedded mongoeco (SQLite file {sqlite_path(uri)})"
    return f"MongoDB at {redact_uri(uri)}"
