"""Storage URLs: the installed PostgreSQL driver is named, passwords never reach messages, losing the
table-creation race to another worker is not an error."""

import pytest

from autoseg.errors import AutosegError
from autoseg.search import storage


def test_plain_postgres_url_names_an_installed_driver(monkeypatch):
    installed = {"psycopg2"}
    monkeypatch.setattr(storage.importlib.util, "find_spec", lambda name: object() if name in installed else None)
    assert storage.with_installed_driver("postgresql://u@h:5432/db") == "postgresql+psycopg2://u@h:5432/db"
    installed.add("psycopg")
    assert storage.with_installed_driver("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert storage.with_installed_driver("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert storage.with_installed_driver("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_no_driver_is_one_error_without_the_password(monkeypatch):
    monkeypatch.setattr(storage.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AutosegError) as caught:
        storage.open_storage("postgresql://me:secret@h:5432/db")
    assert "secret" not in str(caught.value) and "autoseg[postgres]" in str(caught.value)


def test_creation_race_is_retried_then_opens(monkeypatch):
    class IntegrityError(Exception):
        pass

    calls = []

    def fake_storage(url, **kwargs):
        calls.append(url)
        if len(calls) == 1:
            raise IntegrityError('duplicate key value violates unique constraint "pg_type_typname_nsp_index"')
        return "opened"

    monkeypatch.setattr(storage.optuna.storages, "RDBStorage", fake_storage)
    monkeypatch.setattr(storage.time, "sleep", lambda s: None)
    assert storage.open_storage("sqlite:////tmp/never.db") == "opened" and len(calls) == 2


def test_unreachable_server_is_one_error_naming_the_url(tmp_path):
    with pytest.raises(AutosegError) as caught:
        storage.open_storage(f"sqlite:///{tmp_path}/missing/dir/x.db")
    assert "cannot open the study storage" in str(caught.value)
