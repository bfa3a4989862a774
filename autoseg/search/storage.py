"""Where a study lives: an SQLite file under WORK by default, or any Optuna RDB URL (PostgreSQL, MySQL) that
several workers on several machines share. A study is found again by its name (resume, more workers).

Heartbeats: every running trial writes a heartbeat; a trial whose worker died (killed, out of memory, machine
lost) stops beating and is marked FAIL by the next worker that starts a trial, instead of staying RUNNING.
"""

from __future__ import annotations

import importlib.util
import random
import re
import time
import warnings
from pathlib import Path

import optuna

from autoseg.errors import AutosegError

HEARTBEAT_SECONDS = 60
GRACE_SECONDS = 300
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_study_name(name: str) -> str:
    if not STUDY_NAME.match(name):
        raise AutosegError(
            f"study name '{name}' is not usable as a folder and configuration name",
            fix="use letters, digits, '_', '-' and '.' only, starting with a letter or digit",
        )
    return name


def study_dir(work: str | Path, study: str) -> Path:
    return Path(work) / "search" / study


def default_storage_url(work: str | Path, study: str) -> str:
    path = (Path(work) / "search" / f"{study}.db").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


POSTGRES_DRIVERS = ("psycopg", "psycopg2")  # SQLAlchemy 2.1 defaults to psycopg (3); older ones to psycopg2


def with_installed_driver(url: str) -> str:
    """A plain postgresql:// URL names no driver and SQLAlchemy picks one by its own version, which may not be
    the one installed: name the driver that is."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep:
        return url
    for driver in POSTGRES_DRIVERS:
        if importlib.util.find_spec(driver) is not None:
            return f"postgresql+{driver}://{rest}"
    raise AutosegError(
        "no PostgreSQL driver is installed (psycopg or psycopg2)",
        safe_url(url),
        "pip install 'autoseg[postgres]' (installs psycopg[binary])",
    )


CREATE_ATTEMPTS = 5


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats; connection problems become one-line errors naming the URL."""
    driver_url = with_installed_driver(url)
    if url.startswith("sqlite"):
        # Several local workers on one SQLite file wait for its lock instead of failing after 5 s.
        engine_kwargs = {"connect_args": {"timeout": 120}}
    else:
        # Trials take minutes: a pooled connection may have been closed by the server meanwhile.
        engine_kwargs = {"pool_pre_ping": True}
    for attempt in range(CREATE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable since 2.9
                return optuna.storages.RDBStorage(
                    driver_url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=HEARTBEAT_SECONDS,
                    grace_period=GRACE_SECONDS,
                )
        except ImportError as error:  # Optuna re-raises a missing driver as a bare ImportError
            missing = getattr(error.__cause__, "name", None) or getattr(error, "name", None) or "driver"
            raise AutosegError(
                f"the storage driver is not installed ({missing})",
                safe_url(url),
                "for PostgreSQL: pip install 'autoseg[postgres]' (psycopg[binary]); for MySQL: pip install pymysql",
            ) from None
        except Exception as error:  # SQLAlchemy raises many kinds; all mean the URL or the server is wrong
            if _lost_creation_race(error) and attempt + 1 < CREATE_ATTEMPTS:
                # Workers started together on an empty database all create Optuna's tables; all but one lose
                # that race with a duplicate-key error. The tables exist now: open them again.
                time.sleep(0.5 + random.random())
                continue
            raise AutosegError(
                f"cannot open the study storage: {type(error).__name__}: {_first_line(error)}",
                safe_url(url),
                "check --storage (e.g. postgresql://user@host:5432/db) and that the "
                "database server is running and reachable",
            ) from None
    raise AssertionError("unreachable")


def _lost_creation_race(error: Exception) -> bool:
    text = str(error).lower()
    return type(error).__name__ in ("IntegrityError", "ProgrammingError") and (
        "duplicate" in text or "already exists" in text
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def safe_url(url: str) -> str:
    """The URL without its password, for messages and reports."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
