"""Feedback storage through SQLAlchemy: SQLite by default, PostgreSQL by URL.

Two tables. ``cards``: each card served (uuid, service, rule id, indicator, site, time,
the drugs it is about, and a pseudonymous patient key: an HMAC of the patient id with
this database's own random secret, never the id itself), so feedback can be linked to
the rule and site, and an override to a later repeat of the same alert for the same
patient (:meth:`FeedbackStore.overrides`, repeat suppression of site layers).
``feedback``: each feedback item as posted (outcome, override reason, comment,
timestamps). ``meta``: the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine as DbEngine

from cdss.site.repeats import Override

metadata = MetaData()

cards = Table(
    "cdss_cards", metadata,
    Column("uuid", String(36), primary_key=True),
    Column("service", String(64), nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("site", String(200), nullable=True),
    Column("served_at", DateTime(timezone=True), nullable=False),
    Column("patient_key", String(64), nullable=True, index=True),
    Column("drugs", Text, nullable=True),
)
#: columns added after the first release: added to an older database when it is opened
_ADDED_CARD_COLUMNS = {"patient_key": "VARCHAR(64)", "drugs": "TEXT"}

meta = Table(
    "cdss_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)

feedback = Table(
    "cdss_feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(64), nullable=False),
    Column("card", String(128), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text, nullable=True),
    Column("reason_system", String(300), nullable=True),
    Column("reason_code", String(128), nullable=True),
    Column("reason_display", String(500), nullable=True),
    Column("user_comment", Text, nullable=True),
    Column("outcome_timestamp", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


class FeedbackStore:
    """Cards served and feedback received, in one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.db: DbEngine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.db, "connect", _sqlite_pragmas)
        # SQLite has one writer: writes of this process take turns (none is lost on
        # "database is locked"); PostgreSQL takes concurrent transactions as they come
        self._write_lock = threading.Lock() if self.is_sqlite else None
        metadata.create_all(self.db)
        self._add_missing_columns()
        self._secret = self._patient_secret()

    def _add_missing_columns(self) -> None:
        present = {c["name"] for c in inspect(self.db).get_columns("cdss_cards")}
        with self.db.begin() as conn:
            for name, kind in _ADDED_CARD_COLUMNS.items():
                if name not in present:
                    conn.execute(text(f"ALTER TABLE cdss_cards ADD COLUMN {name} {kind}"))

    def _patient_secret(self) -> bytes:
        """This database's secret for patient keys (made once, kept in ``cdss_meta``)."""
        with self.db.begin() as conn:
            row = conn.execute(select(meta.c.value).where(meta.c.key == "patient_secret")
                               ).first()
            if row is None:
                value = secrets.token_hex(32)
                conn.execute(insert(meta), [{"key": "patient_secret", "value": value}])
                return bytes.fromhex(value)
        return bytes.fromhex(row[0])

    def patient_key(self, patient_id: str) -> str:
        """The pseudonymous key of a patient id in this database."""
        return hmac.new(self._secret, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def _write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._write_lock is None:
            with self.db.begin() as conn:
                conn.execute(insert(table), rows)
            return
        with self._write_lock, self.db.begin() as conn:
            conn.execute(insert(table), rows)

    def record_cards(self, service: str, served: list[dict[str, Any]]) -> None:
        """Remember the cards of one hook call: ``[{uuid, rule_id, indicator, site,
        patient, drugs}]`` (the patient id is stored only as its key)."""
        now = datetime.now(UTC)
        rows = []
        for c in served:
            row = {"site": None, "service": service, "served_at": now,
                   **{k: v for k, v in c.items() if k not in ("patient", "drugs")}}
            patient = c.get("patient")
            row["patient_key"] = self.patient_key(patient) if patient else None
            row["drugs"] = ",".join(sorted(c.get("drugs") or ())) or None
            rows.append(row)
        self._write(cards, rows)

    def overrides(self, patient_id: str, rule_id: str) -> list[Override]:
        """The alerts of this rule the patient's doctors overrode (feedback ``overridden``
        on a card served for the patient), for repeat suppression (``cdss.site``)."""
        query = (select(feedback.c.outcome_timestamp, feedback.c.received_at,
                        feedback.c.reason_code, cards.c.drugs)
                 .select_from(feedback.join(cards, feedback.c.card == cards.c.uuid))
                 .where(cards.c.patient_key == self.patient_key(patient_id),
                        cards.c.rule_id == rule_id, feedback.c.outcome == "overridden"))
        with self.db.connect() as conn:
            found = conn.execute(query).all()
        out = []
        for stamp, received, reason, drugs in found:
            at = _instant(stamp) or (received if received.tzinfo else
                                     received.replace(tzinfo=UTC))
            out.append(Override(patient_id, rule_id,
                                tuple(sorted(drugs.split(","))) if drugs else (), at, reason))
        return out

    def add_feedback(self, service: str, items: list[dict[str, Any]]) -> int:
        """Store feedback items (already validated) in one transaction; their count."""
        now = datetime.now(UTC)
        blank = {c.name: None for c in feedback.columns if c.name != "id"}
        self._write(feedback, [{**blank, "service": service, "received_at": now, **i}
                               for i in items])
        return len(items)

    def rows(self) -> list[dict[str, Any]]:
        """Every feedback item joined with its card (rule id, site, indicator)."""
        query = (select(feedback, cards.c.rule_id, cards.c.site, cards.c.indicator)
                 .select_from(feedback.outerjoin(cards, feedback.c.card == cards.c.uuid))
                 .order_by(feedback.c.id))
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def count(self) -> int:
        """Feedback items stored."""
        with self.db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(feedback)).scalar_one())

    def close(self) -> None:
        self.db.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _instant(stamp: str | None) -> datetime | None:
    """An outcome timestamp as an aware instant (None when it has no zone or is bad)."""
    try:
        at = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None
