"""Alembic environment: online migrations only, URL passed in by `mailup_soap.db.migrate`."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from mailup_soap.db.tables import metadata

config = context.config


def include_object(obj: object, name: str | None, type_: str, reflected: bool,
                   compare_to: object) -> bool:
    """procrastinate's tables are its own (revision 0002): autogenerate must not touch them."""
    return not (name or "").startswith(("procrastinate_", "idx_procrastinate_"))


connectable = sa.create_engine(config.get_main_option("sqlalchemy.url") or "",
                               poolclass=sa.pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()
