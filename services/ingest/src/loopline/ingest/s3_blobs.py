"""Blobs in an S3-compatible store (distributed mode). URLs are the store's presigned URLs.

`s3://bucket/prefix?endpoint=http://host:9000&region=us-east-1`; credentials from the usual
AWS environment variables or instance profile.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlparse

from loopline.ingest.blobs import NoSuchBlob, check_key


class S3BlobStore:
    def __init__(
        self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or "us-east-1",
            config=Config(signature_version="s3v4"),
        )

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        u = urlparse(url)
        q = parse_qs(u.query)
        return cls(
            u.netloc,
            u.path,
            endpoint_url=q.get("endpoint", [None])[0],
            region=q.get("region", [None])[0],
        )

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes:
        try:
            resp = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as exc:
            raise NoSuchBlob(f"no blob {key!r}") from exc
        return await asyncio.to_thread(resp["Body"].read)

    async def exists(self, key: str) -> bool:
        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception:
            return False

    def upload_url(self, key: str, base_url: str, content_type: str) -> tuple[str, dict[str, str]]:
        url = self.client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": self._key(key), "ContentType": content_type},
            ExpiresIn=3600,
        )
        return url, {"Content-Type": content_type}

    def download_url(self, key: str, base_url: str) -> str:
        return str(
            self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=3600
            )
        )
