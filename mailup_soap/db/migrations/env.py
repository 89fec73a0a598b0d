"""Alembic environment: online migrations only, URL passed in by `mailup_soap.db.migrate`."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from mailup_soap.db.tables import metadata

config = context.config
connectable = sa.create_engine(config.get_main_option("sqlalchemy.url") or "",
                               poolclass=sa.pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
