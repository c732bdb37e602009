"""Helpers for hand-written migrations."""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script (DO blocks, functions, several DDL statements).

    asyncpg prepares every statement it is given, and a prepared statement holds one command;
    its simple-query path (`Connection.execute` without arguments) takes a whole script."""
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    await_only(driver_connection.execute(sql))
