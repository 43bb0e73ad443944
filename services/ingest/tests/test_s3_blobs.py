"""S3-compatible blob store (distributed mode) against a local moto S3 server on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import httpx
import pytest
from loopline.common.http import COMMON_ERRORS
from loopline.ingest.blobs import BlobError, UrlSigner, blob_store_from_url


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from tests.support.running import free_port

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="blobs")
    yield url
    server.stop()


async def test_put_get_and_presigned_urls(s3_endpoint: str) -> None:
    store = blob_store_from_url(f"s3://blobs/loopline?endpoint={s3_endpoint}", UrlSigner(b"x" * 32))
    await store.put("org1/attachments/a.txt", b"hello", "text/plain")
    assert await store.get("org1/attachments/a.txt") == b"hello"
    assert await store.exists("org1/attachments/a.txt") and not await store.exists("org1/attachments/none")
    with pytest.raises(BlobError) as exc:
        await store.get("org1/attachments/none")
    assert COMMON_ERRORS.status_of(exc.value) == 404
    url, headers = store.upload_url("org1/overflow/big", "http://ignored", "application/json")
    async with httpx.AsyncClient() as client:  # no API key: the URLs are presigned
        assert (await client.put(url, content=b'{"rows": []}', headers=headers)).status_code == 200
        assert await store.get("org1/overflow/big") == b'{"rows": []}'
        download = await client.get(store.download_url("org1/overflow/big", "http://ignored"))
        assert download.content == b'{"rows": []}'
    with pytest.raises(BlobError):
        store.upload_url("../escape", "http://x", "text/plain")
