"""What the subcommands share: the settings from the environment, the service layer's
dependencies, and comma-separated option values."""
from __future__ import annotations

import os
from typing import Any

from mailup_soap import bootstrap
from mailup_soap.config import Settings, load_settings


def env_settings() -> Settings:
    return load_settings(os.environ)


def new_deps() -> Any:
    return bootstrap.build_deps(env_settings(), pool_size=1)


def comma_list(raw: str | None) -> list[str] | None:
    return [p for p in (raw or "").split(",") if p.strip()] or None
