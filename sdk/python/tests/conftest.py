import os

import pytest

from shard import ShardClient


@pytest.fixture(scope="session")
def oracle_url():
    url = os.environ.get("SHARD_TEST_ORACLE_URL")
    if not url:
        pytest.skip(
            "SHARD_TEST_ORACLE_URL is not set: start an oracle (npm run oracle) and point it there, "
            "or run `npx vitest run tests/integration/sdk-python.test.ts`, which starts one"
        )
    return url


@pytest.fixture()
def client(oracle_url):
    with ShardClient(base_url=oracle_url) as c:
        yield c
