"""One contract, both adapters: the people's data keys in memory (the embedded default) and in
PostgreSQL (wrapped under the master key)."""

from __future__ import annotations

import base64
import os

import pytest

from projections.data_keys import KeyWrapError, MemoryDataKeys, PostgresDataKeys, Wrapper
from projections.postgres_store import open_pool

MASTER = os.urandom(32)


@pytest.fixture(params=["memory", "postgres"])
def keys(request, settings):
    if request.param == "memory":
        yield MemoryDataKeys()
        return
    pool = open_pool(settings.database_url, max_size=2)
    yield PostgresDataKeys(pool, settings.namespace, Wrapper(MASTER))
    pool.close()


def test_a_key_is_made_on_first_use_and_stays_the_same(keys):
    first = keys.current(["fabien", "claire"])
    assert first["fabien"][0] == 1 and len(first["fabien"][1]) == 32
    assert first["fabien"] != first["claire"]
    assert keys.current(["fabien"]) == {"fabien": first["fabien"]}
    assert keys.all_of(["fabien", "nobody"]) == {"fabien": {1: first["fabien"][1]}, "nobody": {}}


def test_a_rotated_key_seals_from_now_on_and_the_old_one_still_opens(keys):
    old = keys.current(["fabien"])["fabien"]
    assert keys.rotate("fabien") == 2
    keys.forget(["fabien"])
    new = keys.current(["fabien"])["fabien"]
    assert new[0] == 2 and new[1] != old[1]
    assert keys.all_of(["fabien"])["fabien"] == {1: old[1], 2: new[1]}


def test_an_erased_subject_has_no_key_and_never_gets_one_again(keys):
    keys.current(["fabien", "claire"])
    keys.destroy(["fabien"])
    assert keys.all_of(["fabien"]) == {"fabien": None}
    assert keys.current(["fabien"]) == {"fabien": None}
    assert keys.all_of(["fabien"]) == {"fabien": None}
    assert keys.all_of(["claire"])["claire"]
    with pytest.raises(KeyError):
        keys.rotate("fabien")


def test_keys_are_wrapped_at_rest_and_rewrapped_under_a_new_master_key(settings):
    pool = open_pool(settings.database_url, max_size=2)
    try:
        before = PostgresDataKeys(pool, settings.namespace, Wrapper(MASTER)).current(["fabien"])["fabien"]
        with pool.connection() as conn:
            (wrapped,) = conn.execute(f"SELECT wrapped FROM {settings.namespace}_keys.data_key").fetchone()
        assert before[1] not in bytes(wrapped)  # never stored in clear
        with pytest.raises(KeyWrapError):
            PostgresDataKeys(pool, settings.namespace, Wrapper(os.urandom(32))).all_of(["fabien"])
        rotated_master = os.urandom(32)
        assert PostgresDataKeys(pool, settings.namespace, Wrapper(rotated_master, MASTER)).rewrap() == 1
        after = PostgresDataKeys(pool, settings.namespace, Wrapper(rotated_master)).all_of(["fabien"])
        assert after == {"fabien": {1: before[1]}}
    finally:
        pool.close()


def test_the_master_key_setting_is_checked():
    from services.settings import Settings

    with pytest.raises(ValueError, match="32 random bytes"):
        Settings(master_key=base64.b64encode(b"short").decode())
    assert Settings(master_key=base64.b64encode(MASTER).decode()).master_key_bytes == MASTER
