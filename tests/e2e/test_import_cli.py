"""`mailup-soap import FILE`: the bulk engine from the command line, XML and MailUp CSV."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
import sqlalchemy as sa

from mailup_soap.db import tables as t
from mailup_soap.service_layer import auth, lists
from mailup_soap.service_layer.deps import AccessKey, Deps
from tests.conftest import AccountInfo

pytestmark = pytest.mark.e2e
CLI = os.path.join(os.path.dirname(sys.executable), "mailup-soap")


def _run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "import", *args], env=dict(os.environ, DATABASE_URL=database_url),
                          capture_output=True, text=True, timeout=60)


def _list(deps: Deps, account: AccountInfo) -> int:
    key = AccessKey(auth.login(deps, account.console_user, account.password,
                               console_id=account.console_id))
    return lists.create_list(deps, key, "CLI").id


def _recipients(engine: sa.Engine, account: AccountInfo) -> dict[str, str | None]:
    r = t.recipients.c
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(r.email, r.field1).where(
            r.account_id == account.console_id)).all())  # type: ignore[arg-type]


def test_the_cli_imports_xml_and_csv_files_into_a_list(
        database_url: str, deps: Deps, engine: sa.Engine, account: AccountInfo,
        tmp_path: pathlib.Path) -> None:
    list_id = _list(deps, account)
    xml = tmp_path / "people.xml"
    xml.write_text('<subscribers><subscriber email="ann@cli.example" Prefix="" Number="" '
                   'Name=""><campo1>Ann</campo1></subscriber></subscribers>')
    csv = tmp_path / "people.csv"
    csv.write_text("1|111\nBob|bob@cli.example\nBad|not-an-email\n")

    from_xml = _run(database_url, str(xml), "--account", str(account.console_id),
                    "--list", str(list_id))
    from_csv = _run(database_url, str(csv), "--account", str(account.console_id),
                    "--list", str(list_id))

    assert from_xml.returncode == 0, from_xml.stderr
    assert "1 new" in from_xml.stdout
    assert from_csv.returncode == 0, from_csv.stderr
    assert "1 new" in from_csv.stdout and "1 rejected" in from_csv.stdout
    assert _recipients(engine, account) == {"ann@cli.example": "Ann", "bob@cli.example": "Bob"}


def test_the_cli_refuses_bad_files_with_a_message_and_imports_nothing(
        database_url: str, deps: Deps, engine: sa.Engine, account: AccountInfo,
        tmp_path: pathlib.Path) -> None:
    list_id = _list(deps, account)
    binary = tmp_path / "photo.csv"
    binary.write_bytes(bytes(range(256)) * 20)
    wrong_header = tmp_path / "wrong.csv"
    wrong_header.write_text("email;name\na@b.example;A\n")

    answers = [_run(database_url, str(path), "--account", str(account.console_id),
                    "--list", str(list_id))
               for path in (binary, wrong_header, tmp_path / "missing.xml")]

    assert [a.returncode for a in answers] == [2, 2, 2]
    assert all(a.stderr.startswith("mailup-soap: ") and "Traceback" not in a.stderr
               for a in answers)
    assert _recipients(engine, account) == {}
