"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, inspect

from api.cli import upgrade_database
from api.config import PROJECT_ROOT
from engine.models import Base


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _differences(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def fresh_sqlite(tmp_path):
    return f"sqlite:///{tmp_path / 'fresh.db'}"


def test_migrations_have_a_single_head():
    heads = ScriptDirectory.from_config(_config("sqlite://")).get_heads()
    assert len(heads) == 1


def test_upgrade_of_a_fresh_sqlite_database_matches_the_models(fresh_sqlite):
    upgrade_database(fresh_sqlite)
    head = ScriptDirectory.from_config(_config(fresh_sqlite)).get_current_head()
    assert _current_revision(fresh_sqlite) == head
    assert set(Base.metadata.tables) <= _tables(fresh_sqlite)
    assert _differences(fresh_sqlite) == []


def test_upgraded_test_database_matches_the_models(database_url):
    """The SQLite and PostgreSQL databases the suite runs on (made by the migrations)."""
    assert _differences(database_url) == []


def test_downgrade_to_base_and_upgrade_again(fresh_sqlite):
    upgrade_database(fresh_sqlite)
    command.downgrade(_config(fresh_sqlite), "base")
    assert _tables(fresh_sqlite) & set(Base.metadata.tables) == set()
    assert _current_revision(fresh_sqlite) is None
    upgrade_database(fresh_sqlite)
    assert _differences(fresh_sqlite) == []


def test_comparison_notices_a_model_the_migrations_lack(fresh_sqlite):
    """Guards the guard: compare_metadata does report a difference when there is one."""
    upgrade_database(fresh_sqlite)
    extra = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(extra)
    Table("not_migrated", extra, Column("id", Integer, primary_key=True))
    engine = create_engine(fresh_sqlite)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), extra)
    engine.dispose()
    assert [d[0] for d in diffs] == ["add_table"]
    assert diffs[0][1].name == "not_migrated"
