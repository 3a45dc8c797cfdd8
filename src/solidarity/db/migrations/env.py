"""Alembic environment: runs against the URL given by solidarity.db.migrate."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from solidarity.db import models  # noqa: F401  (registers every table)
from solidarity.db.base import Base
from solidarity.db.engine import make_engine

config = context.config
target_metadata = Base.metadata


#: Tables created by migrations alone, outside the models' metadata (decision 0006):
#: autogenerate must not propose dropping them.
MIGRATION_ONLY_TABLES = frozenset({"person_name_token"})


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "table" and reflected and name in MIGRATION_ONLY_TABLES)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
