"""Apply the Alembic migrations (our tables and procrastinate's job queue schema)."""
from __future__ import annotations

from alembic import command
from alembic.config import Config


def alembic_config(sqlalchemy_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "mailup_soap.db:migrations")
    config.set_main_option("sqlalchemy.url", sqlalchemy_url.replace("%", "%%"))
    return config


def upgrade(sqlalchemy_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(sqlalchemy_url), revision)
