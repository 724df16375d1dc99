"""Raw payload archive: the exact bytes each source returned, content-addressed and append-only.

Every Bronze row carries the ``payload_sha256`` of the response it was parsed from, so a row traces
back to bytes we can re-parse without refetching. Blobs live under ``$LAKEHOUSE_HOME/raw`` locally and
under an ``s3://`` prefix in production (through dagster-aws's S3 resource); the index of fetches
(URL with secrets redacted, fetched_at, hash, size) is the Iceberg table ``bronze.raw_payloads``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from pyiceberg.expressions import AlwaysFalse

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.names import RAW_PAYLOADS_TABLE

# Level 6: companyfacts JSON shrinks ~14x (level 3: ~10x) for ~20 ms more per payload, paid once per
# distinct payload and in the fetch threads; the archive is kept forever.
GZIP_LEVEL = 6


class BlobStore(Protocol):
    def exists(self, key: str) -> bool: ...
    def put(self, key: str, data: Callable[[], bytes]) -> str: ...
    def get(self, key: str) -> bytes: ...


class LocalBlobStore:
    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def put(self, key: str, data: Callable[[], bytes]) -> str:
        """Write-once: ``data()`` (the compression) runs only when the blob is not stored yet."""
        path = self._path(key)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data())
            os.replace(tmp, path)
        return path.as_uri()

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()


class S3BlobStore:
    """Blobs in S3 (or any S3 API: MinIO, SeaweedFS) through a boto3 client from dagster-aws."""

    def __init__(self, client: Any, uri: str):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception as exc:  # botocore ClientError 404
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def put(self, key: str, data: Callable[[], bytes]) -> str:
        if not self.exists(key):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data())
        return f"s3://{self.bucket}/{self._key(key)}"

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()


@dataclass(frozen=True)
class ArchivedPayload:
    source: str
    url: str
    sha256: str
    size_bytes: int
    status: int
    fetched_at: datetime
    uri: str
    partition_key: str | None = None


class PayloadArchive:
    """Keeps payloads write-once by hash; collects index rows to commit with the asset's run."""

    def __init__(self, store: BlobStore):
        self.store = store
        self.pending: list[ArchivedPayload] = []

    @staticmethod
    def key(source: str, sha256: str) -> str:
        return f"{source}/{sha256[:2]}/{sha256}.gz"

    def put(
        self,
        source: str,
        url: str,
        content: bytes,
        *,
        status: int = 200,
        fetched_at: datetime | None = None,
        partition_key: str | None = None,
    ) -> ArchivedPayload:
        """Store the bytes once (thread-safe: fetch threads archive as they go) and queue an index row."""
        sha256 = hashlib.sha256(content).hexdigest()
        key = self.key(source, sha256)
        uri = self.store.put(key, lambda: gzip.compress(content, compresslevel=GZIP_LEVEL, mtime=0))
        item = ArchivedPayload(
            source=source,
            url=url,
            sha256=sha256,
            size_bytes=len(content),
            status=status,
            fetched_at=fetched_at or datetime.now(UTC),
            uri=uri,
            partition_key=partition_key,
        )
        self.pending.append(item)  # list.append is atomic
        return item

    def get(self, source: str, sha256: str) -> bytes:
        return gzip.decompress(self.store.get(self.key(source, sha256)))

    def commit_index(
        self, lakehouse: IcebergLakehouse, *, run_id: str, asset_key: str, partition_key: str | None
    ) -> int:
        """Append this run's fetches to ``bronze.raw_payloads`` (append-only: history is the point)."""
        if not self.pending:
            return 0
        frame = pl.DataFrame(
            {
                "source": [p.source for p in self.pending],
                "url": [p.url for p in self.pending],
                "sha256": [p.sha256 for p in self.pending],
                "size_bytes": [p.size_bytes for p in self.pending],
                "status": [p.status for p in self.pending],
                "fetched_at": [p.fetched_at for p in self.pending],
                "uri": [p.uri for p in self.pending],
                "dagster_run_id": run_id,
                "asset_key": asset_key,
                "partition_key": [p.partition_key or partition_key for p in self.pending],
            },
            schema_overrides={"fetched_at": pl.Datetime("us", "UTC"), "partition_key": pl.String},
        )
        lakehouse.write(
            RAW_PAYLOADS_TABLE,
            frame,
            replace=AlwaysFalse(),
            partition_by=["identity(source)", "month(fetched_at)"],
            snapshot_properties={"dagster.run-id": run_id, "dagster.asset-key": asset_key},
        )
        count = len(self.pending)
        self.pending.clear()
        return count
