"""Database engines (SQLite tuned for many writers, PostgreSQL as it is) and the unit of work."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .errors import Conflict

CONFLICT_MESSAGE = (
    "the case was changed by someone else at the same moment; reload it and try again"
)




def tune_engine(engine: Engine) -> Engine:
    """On SQLite, take the write lock at the start of every transaction (BEGIN IMMEDIATE).

    SQLite allows one writer. A transaction that read first and writes later fails with
    SQLITE_BUSY when another writer got in between, so that two unrelated completions would
    fail each other. Taking the lock up front makes writers queue instead (up to the busy
    timeout), and the version counter still catches a real conflict on the same instance.
    """
    if engine.dialect.name != "sqlite":
        return engine

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Keep the planner's statistics fresh (SQLite's advice for long-lived connections),
        # so that e.g. "my tasks" uses the assignee index; bounded to stay cheap.
        cursor.execute("PRAGMA analysis_limit=1000")
        cursor.execute("PRAGMA optimize=0x10002")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_size": 20, "max_overflow": 10, "pool_pre_ping": True}


def make_engine(url: str) -> Engine:
    return tune_engine(create_engine(url, **engine_options(url)))


@contextmanager
def transaction(session: Session):
    """One unit of work: commit on success, roll back on any error.

    A lost race on an instance's version counter becomes a Conflict (HTTP 409)."""
    try:
        yield session
        session.commit()
    except StaleDataError:
        session.rollback()
        raise Conflict(CONFLICT_MESSAGE) from None
    except BaseException:
        session.rollback()
        raise


def claim_next(session: Session, query, *, of, condition=None, order_by=None):
    """`query` narrowed to the row(s) to work on now, locked for this transaction: with
    `order_by`, only the first; on PostgreSQL rows that another transaction holds are skipped
    (FOR UPDATE OF `of` SKIP LOCKED), so that any number of schedulers share a queue without
    waiting for or colliding with each other. (SQLite writers queue at BEGIN IMMEDIATE.)"""
    if condition is not None:
        query = query.where(condition)
    if order_by is not None:
        query = query.order_by(order_by).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=of, skip_locked=True)
    return query
