"""Alembic environment: the URL comes from `sagsflow db upgrade` or DATABASE_URL."""

import os

from alembic import context

from engine.db import make_engine
from engine.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
if not url:
    from api.config import load_config

    url = load_config()["SQLALCHEMY_DATABASE_URI"]


def run_migrations_offline():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
