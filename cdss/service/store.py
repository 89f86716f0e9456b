"""Feedback storage through SQLAlchemy: SQLite by default, PostgreSQL by URL.

Two tables. ``cards``: each card served (uuid, service, rule id, indicator, site, time):
no patient data, so feedback can be linked to the rule and site. ``feedback``: each
feedback item as posted (outcome, override reason, comment, timestamps).
"""

from __future__ import annotations

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
    select,
)
from sqlalchemy.engine import Engine as DbEngine

metadata = MetaData()

cards = Table(
    "cdss_cards", metadata,
    Column("uuid", String(36), primary_key=True),
    Column("service", String(64), nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("site", String(200), nullable=True),
    Column("served_at", DateTime(timezone=True), nullable=False),
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
        """Remember the cards of one hook call: ``[{uuid, rule_id, indicator, site}]``."""
        now = datetime.now(UTC)
        self._write(cards, [{"site": None, "service": service, "served_at": now, **c}
                            for c in served])

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
