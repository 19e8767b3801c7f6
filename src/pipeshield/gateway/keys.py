"""API keys for the inference gateway: created once, shown once, stored hashed, scoped and limited.

A key is ``psk_<43 url-safe characters>`` (32 random bytes from :mod:`secrets`). Only its SHA-256
is stored: a salted slow hash would protect low-entropy passwords, but 256 random bits cannot be
brute-forced, and a plain digest lets every request be authenticated with one indexed lookup.
Each key has a stable public id (``key-<12 hex>``, what logs, limits and blocklists name), a
unique name, the models it may use (``None``: every model), its limits (:class:`KeyLimits`), an
optional output policy (``label-only``, ``top-1``, ``round-2``...), an ``admin`` flag (admin keys
may also read ``/metrics``), a ``sanction`` the extraction monitor may set (``throttle``, ``deny``
or ``label-only``), and ``revoked``.

The store is SQLAlchemy: a SQLite file inside the pipeline's folder by default
(``.pipeshield/gateway.db``), PostgreSQL through a URL so that replicas share one set of keys.

    >>> store = ApiKeyStore("sqlite:///:memory:")
    >>> created = store.create("ci-bot", models=["digits_cnn"], rate="10/s", budget=50_000)
    >>> store.authenticate(created.secret).name
    'ci-bot'
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pipeshield.errors import ConfigError, PipeshieldError
from pipeshield.gateway.limits import KeyLimits, parse_rate
from pipeshield.gateway.output_policy import OutputPolicy

__all__ = [
    "DEFAULT_KEYS_DB",
    "SANCTIONS",
    "ApiKey",
    "ApiKeyError",
    "ApiKeyStore",
    "CreatedKey",
    "hash_secret",
    "parse_output_policy",
]

DEFAULT_KEYS_DB = Path(".pipeshield") / "gateway.db"
PREFIX = "psk_"
SANCTIONS = ("throttle", "deny", "label-only")


class ApiKeyError(PipeshieldError):
    """The key store cannot be read or written, or a key operation names no (or a duplicate) key."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_output_policy(spec: str) -> OutputPolicy:
    """``full``, ``label-only``, ``top-K``, ``round-N`` or ``top-K+round-N`` (the names
    :attr:`OutputPolicy.name` gives) -> an :class:`OutputPolicy`."""
    text = spec.strip().lower()
    if text in ("full", ""):
        return OutputPolicy()
    if text in ("label-only", "label"):
        return OutputPolicy(label_only=True)
    top_k = decimals = None
    for part in text.split("+"):
        kind, _, number = part.partition("-")
        if kind not in ("top", "round") or not number.isdigit():
            raise ConfigError(
                f"unknown output policy {spec!r}",
                hint="use full, label-only, top-K, round-N or top-K+round-N (e.g. top-1+round-2)",
            )
        if kind == "top":
            top_k = int(number)
        else:
            decimals = int(number)
    try:
        return OutputPolicy(top_k=top_k, decimals=decimals)
    except ValueError as err:
        raise ConfigError(f"output policy {spec!r}: {err}") from None


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never its secret)."""

    id: str
    name: str
    models: tuple[str, ...] | None
    limits: KeyLimits
    created: str
    revoked: bool = False
    admin: bool = False
    output: str | None = None
    sanction: str | None = None
    rate: str | None = None  # the limits as written ("10/s"), for listings
    inputs_rate: str | None = None

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models

    def to_dict(self) -> dict[str, Any]:
        lim = self.limits
        return {
            "id": self.id,
            "name": self.name,
            "models": None if self.models is None else list(self.models),
            "rate": self.rate,
            "inputs_rate": self.inputs_rate,
            "daily_budget": lim.daily_budget,
            "lifetime_budget": lim.lifetime_budget,
            "output": self.output,
            "admin": self.admin,
            "sanction": self.sanction,
            "created": self.created,
            "revoked": self.revoked,
        }


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once, never stored


def _rate_text(spec: str | None) -> str | None:
    if spec is None:
        return None
    parse_rate(spec)  # validate now: a bad rate must not be stored
    return spec.strip()


def database_url(db: str | Path) -> str:
    text = str(db)
    return text if "://" in text else f"sqlite:///{Path(text).absolute()}"


class ApiKeyStore:
    """Keys in a SQLAlchemy database; ``authenticate`` caches lookups for ``cache_s`` seconds
    (a revocation takes effect on every replica within that time)."""

    def __init__(self, db: str | Path, *, cache_s: float = 1.0, create: bool = True) -> None:
        self.url = database_url(db)
        if self.url.startswith("sqlite:///") and not self.url.endswith(":memory:"):
            path = Path(self.url[len("sqlite:///") :])
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.exists():
                raise ApiKeyError(f"no key store at {path}", hint="create a key with `pipeshield keys create`")
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()
        meta = MetaData()
        self._table = Table(
            "gateway_api_keys",
            meta,
            Column("id", String(32), primary_key=True),
            Column("name", String(200), unique=True, nullable=False),
            Column("secret_sha256", String(64), unique=True, nullable=False),
            Column("models", Text, nullable=True),  # comma-separated; NULL: every model
            Column("rate", String(64)),
            Column("inputs_rate", String(64)),
            Column("daily_budget", Integer),
            Column("lifetime_budget", Integer),
            Column("output", String(64)),
            Column("admin", Boolean, nullable=False, default=False),
            Column("sanction", String(32)),
            Column("created", String(40), nullable=False),
            Column("revoked", Boolean, nullable=False, default=False),
        )
        try:
            self._engine: Engine = create_engine(self.url, future=True)
            if self.url.startswith("sqlite"):
                event.listen(self._engine, "connect", _sqlite_pragmas)
            self._create_tables(meta)
        except SQLAlchemyError as err:
            raise ApiKeyError(f"cannot open the key store {self._where()}: {_short(err)}") from None

    def _create_tables(self, meta: MetaData) -> None:
        """Create the tables once even when several replicas start together: PostgreSQL takes an
        advisory lock for the transaction; SQLite's losing creators retry and find the tables. (In WAL
        mode a creator that read the schema before another committed it cannot upgrade to a writer:
        SQLite answers "database is locked" at once, without waiting for the busy timeout.)"""
        attempts = 5
        for attempt in range(1, attempts + 1):
            try:
                with self._engine.begin() as conn:
                    if not self.url.startswith("sqlite"):
                        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('pipeshield_gateway_keys'))"))
                    meta.create_all(conn)
                return
            except SQLAlchemyError as err:
                if attempt == attempts or not any(m in str(err) for m in ("already exists", "database is locked")):
                    raise
                time.sleep(0.05 * attempt)

    def _where(self) -> str:
        return self.url.split("@")[-1] if "@" in self.url else self.url

    def close(self) -> None:
        self._engine.dispose()

    # --- administration ----------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        models: list[str] | None = None,
        rate: str | None = None,
        inputs_rate: str | None = None,
        budget: int | None = None,
        daily: int | None = None,
        output: str | None = None,
        admin: bool = False,
    ) -> CreatedKey:
        """A new key; the returned ``secret`` is the only copy there will ever be."""
        if not name.strip():
            raise ConfigError("a key needs a non-empty --name")
        if output is not None:
            parse_output_policy(output)
        row = {
            "id": "key-" + secrets.token_hex(6),
            "name": name.strip(),
            "models": None if models is None else ",".join(m.strip() for m in models if m.strip()),
            "rate": _rate_text(rate),
            "inputs_rate": _rate_text(inputs_rate),
            "daily_budget": daily,
            "lifetime_budget": budget,
            "output": output,
            "admin": admin,
            "sanction": None,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "revoked": False,
        }
        key = self._key(row)  # validates the limits before anything is stored
        secret = PREFIX + secrets.token_urlsafe(32)
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(self._table).values(secret_sha256=hash_secret(secret), **row))
        except IntegrityError:
            raise ApiKeyError(f"a key named {name!r} already exists", hint="pick another --name") from None
        except SQLAlchemyError as err:
            raise ApiKeyError(f"cannot write the key store {self._where()}: {_short(err)}") from None
        return CreatedKey(key, secret)

    def list(self) -> list[ApiKey]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(self._table).order_by(self._table.c.created, self._table.c.name))
            return [self._key(dict(r._mapping)) for r in rows]

    def get(self, name_or_id: str) -> ApiKey:
        t = self._table
        with self._engine.connect() as conn:
            row = conn.execute(select(t).where((t.c.id == name_or_id) | (t.c.name == name_or_id))).first()
        if row is None:
            raise ApiKeyError(f"no key named or with id {name_or_id!r}", hint="see `pipeshield keys list`")
        return self._key(dict(row._mapping))

    def revoke(self, name_or_id: str) -> ApiKey:
        key = self.get(name_or_id)
        self._set(key.id, revoked=True)
        return replace(key, revoked=True)

    def set_sanction(self, key_id: str, sanction: str | None) -> None:
        """Record the extraction monitor's action on a key (``None`` lifts it)."""
        if sanction is not None and sanction not in SANCTIONS:
            raise ConfigError(f"unknown sanction {sanction!r} (one of {', '.join(SANCTIONS)})")
        self._set(key_id, sanction=sanction)

    def _set(self, key_id: str, **values: Any) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(self._table).where(self._table.c.id == key_id).values(**values))
        with self._lock:
            self._cache.clear()

    # --- the request path --------------------------------------------------------------------

    def authenticate(self, secret: str) -> ApiKey | None:
        """The live (not revoked) key whose secret this is, else ``None``. Raises
        :class:`ApiKeyError` when the store cannot be read (the gateway answers 503)."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        digest = hash_secret(secret)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self.cache_s:
            return hit[1]
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(self._table).where(self._table.c.secret_sha256 == digest)).first()
        except SQLAlchemyError as err:
            raise ApiKeyError(f"cannot read the key store {self._where()}: {_short(err)}") from None
        key = None if row is None else self._key(dict(row._mapping))
        if key is not None and key.revoked:
            key = None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now, key)
        return key

    @staticmethod
    def _key(row: dict[str, Any]) -> ApiKey:
        models = row["models"]
        limits = KeyLimits(
            requests=parse_rate(row["rate"]) if row["rate"] else None,
            inputs=parse_rate(row["inputs_rate"]) if row["inputs_rate"] else None,
            daily_budget=row["daily_budget"],
            lifetime_budget=row["lifetime_budget"],
        )
        return ApiKey(
            id=row["id"],
            name=row["name"],
            models=None if models is None else tuple(m for m in models.split(",") if m),
            limits=limits,
            created=row["created"],
            revoked=bool(row["revoked"]),
            admin=bool(row["admin"]),
            output=row["output"],
            sanction=row["sanction"],
            rate=row["rate"],
            inputs_rate=row["inputs_rate"],
        )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # busy_timeout first: switching a new file to WAL takes a lock, and replicas opening the store
    # together otherwise fail at once with "database is locked" instead of waiting their turn.
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def _short(err: BaseException) -> str:
    return str(err).splitlines()[0][:300]
