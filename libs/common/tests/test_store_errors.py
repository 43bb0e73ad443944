"""Store errors: a statement the store refuses because of the data is not "store unavailable"."""

from __future__ import annotations

import pytest
from loopline.common.store import Store, StoreError
from loopline.common.store.client import StoreQueryError, store_error
from loopline.common.testing import unique_database


async def test_data_and_statement_errors_are_query_errors(chdb_dsn: str) -> None:
    store = Store(chdb_dsn, database=unique_database("errors"))
    await store.open()
    try:
        with pytest.raises(StoreQueryError) as e:
            await store.query("""SELECT '{"a.b": 1, "a": {"b": 2}}'::JSON""")
        assert e.value.code == 117 and "Duplicate path" in str(e.value)
        assert isinstance(e.value, StoreError)  # every `except StoreError` still catches it
        with pytest.raises(StoreQueryError) as e:
            await store.query("SELECT no_such_column")
        assert e.value.code == 47
        with pytest.raises(StoreQueryError):
            await store.command("SELECT toInt64('not a number')")
        # the same cast with the JSON settings the project reads with: no error
        _, rows = await store.query(
            """SELECT toJSONString('{"a.b": 1, "a": {"b": 2}}'::JSON)""",
            settings={"json_type_escape_dots_in_keys": 1, "type_json_skip_duplicated_paths": 1},
        )
        assert rows == [('{"a.b":1,"a":{"b":2}}',)]
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("error", "query_error"),
    [
        (ConnectionRefusedError("[Errno 111] Connection refused"), False),
        (TimeoutError("timed out"), False),
        (RuntimeError("Code: 241. DB::Exception: Memory limit (total) exceeded"), False),
        (RuntimeError("Code: 202. DB::Exception: Too many simultaneous queries"), False),
        (RuntimeError("HTTPDriver received ClickHouse error code 117\n Code: 117. DB::Exception: x"), True),
        (RuntimeError("Code: 6. DB::Exception: Cannot parse string 'x' as Int64"), True),
    ],
)
def test_only_statement_and_data_errors_are_query_errors(error: Exception, query_error: bool) -> None:
    err = store_error(error)
    assert isinstance(err, StoreError) and isinstance(err, StoreQueryError) == query_error
    assert store_error(err) is err
