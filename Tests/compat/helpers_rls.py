"""Helpers shared by test_errors.py, test_rls.py and test_concurrency.py.

- `envelope` / `expect_error`: the Supabase error envelope (contract §3.1), checked strictly.
- `Policies`: row-level security policies created as the database owner and always dropped again
  (policies live in the session server's database, which every test of a run shares).
"""

import uuid

import pytest


def envelope(response, http_status=400):
    """The error body, after checking it is exactly `{statusCode, error, message, code}` (strings)."""
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["statusCode", "error", "message", "code"], body
    assert all(isinstance(value, str) for value in body.values()), body
    return body


def expect_error(response, status, error, message, code, http_status=400):
    body = envelope(response, http_status)
    assert body == {"statusCode": status, "error": error, "message": message, "code": code}


RLS_DENIED = ("403", "Unauthorized", "new row violates row-level security policy", "AccessDenied")


class Policies:
    """Creates policies with generated names; `drop_all` removes every one of them.

    DDL takes no bind parameters, so clauses are inlined: only pass generated names in them.
    """

    def __init__(self, server):
        self.server = server
        self.created: list[tuple[str, str]] = []

    def add(self, table: str, clause: str) -> str:
        name = f"compat_{uuid.uuid4().hex[:12]}"
        self.server.sql(f"create policy {name} on storage.{table} {clause}")
        self.created.append((name, table))
        return name

    def drop_all(self):
        while self.created:
            name, table = self.created.pop()
            self.server.sql(f"drop policy if exists {name} on storage.{table}")


@pytest.fixture
def policies(server):
    """The policies a test creates, dropped when it ends (import the fixture by name)."""
    created = Policies(server)
    try:
        yield created
    finally:
        created.drop_all()
