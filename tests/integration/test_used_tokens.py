"""Single-use webhook tokens: one contract for the memory and PostgreSQL adapters; in PostgreSQL every
API process of a deployment sees the same uses."""

import pytest

from projections.postgres_store import open_pool
from services.adapters.used_tokens import MemoryUsedTokens, PostgresUsedTokens


@pytest.fixture(params=["memory", "postgres"])
def used_tokens(request):
    if request.param == "memory":
        yield MemoryUsedTokens(600)
        return
    settings = request.getfixturevalue("settings")
    pool = open_pool(settings.database_url, max_size=2)
    yield PostgresUsedTokens(pool, settings.namespace, 600)
    pool.close()


def test_a_token_is_accepted_once_per_provider(used_tokens):
    assert used_tokens.first_use("mailgun", "t1")
    assert not used_tokens.first_use("mailgun", "t1")
    assert used_tokens.first_use("other-provider", "t1")
    assert used_tokens.first_use("mailgun", "t2")


def test_a_forgotten_token_is_accepted_again_and_forgetting_an_unknown_one_is_harmless(used_tokens):
    assert used_tokens.first_use("mailgun", "t1")
    used_tokens.forget("mailgun", "t1")  # its request was not accepted: the provider's retry must pass
    assert used_tokens.first_use("mailgun", "t1")
    used_tokens.forget("mailgun", "never-seen")
    assert not used_tokens.first_use("mailgun", "t1")


def test_a_token_used_through_one_process_is_refused_through_another(settings):
    pools = [open_pool(settings.database_url) for _ in range(2)]
    try:
        first, second = (PostgresUsedTokens(pool, settings.namespace, 600) for pool in pools)
        assert first.first_use("mailgun", "t1")
        assert not second.first_use("mailgun", "t1")
        assert second.first_use("other-provider", "t1")  # tokens are per provider
        second.forget("mailgun", "t1")  # its request was not accepted: the provider's retry must pass
        assert first.first_use("mailgun", "t1")
    finally:
        for pool in pools:
            pool.close()


def test_old_tokens_are_purged(settings):
    pool = open_pool(settings.database_url)
    try:
        tokens = PostgresUsedTokens(pool, settings.namespace, 1)
        tokens.PURGE_EVERY = 2
        assert tokens.first_use("mailgun", "old")
        with pool.connection() as conn:
            conn.execute(f"UPDATE {settings.namespace}_meta.used_tokens SET used_at = now() - interval '1 hour'")
        assert tokens.first_use("mailgun", "new")  # the second use purges
        with pool.connection() as conn:
            left = conn.execute(f"SELECT token FROM {settings.namespace}_meta.used_tokens").fetchall()
        assert left == [("new",)]
    finally:
        pool.close()
