"""Settings read from the environment; one frozen object passed around instead of os.environ lookups."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InvalidInput


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {raw!r}.") from None
    if value <= 0:
        raise InvalidInput(f"{name} must be greater than zero, not {value}.")
    return value


def _price_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a price in US dollars, not {raw!r}.") from None
    if value < 0 or value != value:
        raise InvalidInput(f"{name} must be zero or more US dollars, not {value}.")
    return value


@dataclass(frozen=True)
class Settings:
    home: Path = field(metadata={"env": "WORKBENCH_HOME", "help": "Folder holding the database, datasets, models, runs and logs."})
    database_url: str = field(metadata={"env": "WORKBENCH_DATABASE_URL", "help": "SQLAlchemy URL; SQLite in the home when unset."})
    session_ttl_minutes: int = field(default=480, metadata={"env": "WORKBENCH_SESSION_TTL_MINUTES", "help": "How long a login lasts."})
    max_upload_mb: int = field(default=1024, metadata={"env": "WORKBENCH_MAX_UPLOAD_MB", "help": "Largest file accepted."})
    debug: bool = field(default=False, metadata={"env": "WORKBENCH_DEBUG", "help": "Show tracebacks in the UI."})
    ray_address: str = field(default="", metadata={"env": "WORKBENCH_RAY_ADDRESS",
                                                   "help": "Ray job API address (http://HOST:8265); fine-tunes go to "
                                                           "that cluster instead of local processes."})
    ray_token: str = field(default="", repr=False, metadata={"env": "WORKBENCH_RAY_TOKEN",
                                                             "help": "Bearer token for a Ray address that is not on "
                                                                     "this machine (required there)."})
    gpu_hour_usd: float = field(default=2.5, metadata={"env": "WORKBENCH_GPU_HOUR_USD",
                                                       "help": "Price of one GPU hour, for the KPI page's job spend."})
    cpu_hour_usd: float = field(default=0.1, metadata={"env": "WORKBENCH_CPU_HOUR_USD",
                                                       "help": "Price of one CPU-only job hour, for job spend."})

    @property
    def database_path(self) -> Path:
        return self.home / "workbench.db"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def cache_dir(self) -> Path:
        """Files derived from installed packages, safe to delete (rebuilt on next use)."""
        return self.home / "cache"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def database_label(self) -> str:
        """The URL without its password, safe to print."""
        if self.is_sqlite:
            return self.database_url
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)

    @classmethod
    def from_env(cls) -> "Settings":
        home = Path(os.environ.get("WORKBENCH_HOME") or Path.home() / ".workbench").expanduser().resolve()
        url = os.environ.get("WORKBENCH_DATABASE_URL") or f"sqlite:///{home / 'workbench.db'}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        if not (url.startswith("sqlite") or url.startswith("postgresql")):
            raise InvalidInput(f"WORKBENCH_DATABASE_URL must be a sqlite:// or postgresql:// URL, not {url.split(':')[0]}://.")
        return cls(
            home=home,
            database_url=url,
            session_ttl_minutes=_int_env("WORKBENCH_SESSION_TTL_MINUTES", 480),
            max_upload_mb=_int_env("WORKBENCH_MAX_UPLOAD_MB", 1024),
            debug=os.environ.get("WORKBENCH_DEBUG", "") not in ("", "0", "false"),
            ray_address=os.environ.get("WORKBENCH_RAY_ADDRESS", "").strip(),
            ray_token=os.environ.get("WORKBENCH_RAY_TOKEN", "").strip(),
            gpu_hour_usd=_price_env("WORKBENCH_GPU_HOUR_USD", 2.5),
            cpu_hour_usd=_price_env("WORKBENCH_CPU_HOUR_USD", 0.1),
        )
