"""Single-use webhook tokens in PostgreSQL: every API process of a deployment sees the same uses."""

from projections.postgres_store import open_pool
from services.adapters.used_tokens import PostgresUsedTokens


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
