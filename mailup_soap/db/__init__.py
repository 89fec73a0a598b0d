"""PostgreSQL: tables, repositories, the unit of work and the Alembic migrations."""
