"""Where an archive scan reads from: local folders and S3-compatible object storage.

A source lists its keys in a stable order (folders: sorted walk; S3: the store's lexicographic listing) and
reads one key's bytes. Listing is streamed and cut into :class:`Shard` s of ``shard_size`` keys (default
5,000), the unit of the resume ledger: the archive is never held in memory, in the client or anywhere else.

Sources are small picklable values, so the same object is sent to a worker process or a Dask worker, which
reads the keys itself; each key is read exactly once, by the worker that examines it. S3 credentials are
never part of a source: every process finds them where boto3 always looks (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, the shared files, an instance role), and
the endpoint in ``AWS_ENDPOINT_URL`` unless ``--s3-endpoint`` says otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Protocol

from bastion.errors import BastionError, ConfigError

DEFAULT_SHARD_SIZE = 5_000


class SourceError(BastionError):
    """A source cannot be listed (no such bucket, no permission, endpoint unreachable)."""

    code = "source-error"


@dataclass(frozen=True, slots=True)
class Shard:
    """``keys`` of source ``source_no``, the ``shard_no``-th slice of its listing."""

    source_no: int
    shard_no: int
    keys: tuple[str, ...]

    @property
    def first_key(self) -> str:
        return self.keys[0]

    @property
    def last_key(self) -> str:
        return self.keys[-1]


class Source(Protocol):
    spec: str

    def keys(self) -> Iterator[str]: ...

    def examine(self, key: str, *, provenance: bool, watermark: str, classify: tuple[str, ...] = ()): ...


@dataclass(frozen=True)
class FolderSource:
    """Files under a folder (or one file), recursively; the key is the path."""

    spec: str

    def keys(self) -> Iterator[str]:
        from bastion.scan import iter_files

        return iter_files([self.spec])

    def examine(self, key: str, *, provenance: bool, watermark: str, classify: tuple[str, ...] = ()):
        from bastion.scan import DEFAULT_FILE_BUDGET, examine_file

        return examine_file(key, provenance=provenance, watermark=watermark, time_budget=DEFAULT_FILE_BUDGET,
                            classify=classify)


@dataclass(frozen=True)
class S3Options:
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None


_clients: dict[S3Options, object] = {}


def s3_client(options: S3Options):
    """One boto3 client per process and options (clients are thread-safe and costly to make)."""
    client = _clients.get(options)
    if client is None:
        import boto3
        from botocore.config import Config
        session = boto3.session.Session(profile_name=options.profile) if options.profile else boto3.session.Session()
        client = session.client(
            "s3",
            # None: botocore itself reads AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL (and the AWS config file)
            endpoint_url=options.endpoint_url or None,
            region_name=options.region or None,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
        _clients[options] = client
    return client


@dataclass(frozen=True)
class S3Source:
    """Objects of ``s3://bucket/prefix``; the key reported is the full ``s3://`` URL."""

    spec: str
    bucket: str
    prefix: str
    options: S3Options = S3Options()

    def keys(self) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        client = s3_client(self.options)
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for obj in page.get("Contents", ()):
                    key = obj["Key"]
                    if key.endswith("/") and obj.get("Size", 0) == 0:
                        continue  # a "folder" marker, not a file
                    yield f"s3://{self.bucket}/{key}"
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(f"cannot list {self.spec}: {exc}") from exc

    def examine(self, key: str, *, provenance: bool, watermark: str, classify: tuple[str, ...] = ()):
        from botocore.exceptions import BotoCoreError, ClientError

        from bastion.scan import DEFAULT_FILE_BUDGET, MAX_DECODE_BYTES, FileResult, examine_bytes

        name = key[len(f"s3://{self.bucket}/") :]
        try:
            obj = s3_client(self.options).get_object(Bucket=self.bucket, Key=name)
            size = int(obj.get("ContentLength") or 0)
            if size > MAX_DECODE_BYTES:
                return _hash_large(key, obj["Body"], size)
            data = obj["Body"].read()
        except (BotoCoreError, ClientError, OSError) as exc:
            res = FileResult(path=key)
            res.add_error("unreadable", str(exc), "read")
            return res
        return examine_bytes(key, data, provenance=provenance, watermark=watermark, time_budget=DEFAULT_FILE_BUDGET,
                             classify=classify)


def _hash_large(key: str, body, size: int):
    """Stream a too-large object through MD5/SHA, as local files over the decode limit are."""
    import hashlib

    from bastion.scan import MAX_DECODE_BYTES, FileResult

    hs = {"md5": hashlib.md5(), "sha1": hashlib.sha1(), "sha256": hashlib.sha256()}
    for chunk in body.iter_chunks(1 << 20):
        for h in hs.values():
            h.update(chunk)
    res = FileResult(path=key, size=size)
    res.md5, res.sha1, res.sha256 = (hs[k].hexdigest() for k in ("md5", "sha1", "sha256"))
    res.add_error("too-large", f"{size} bytes: hashed, not decoded (limit {MAX_DECODE_BYTES})", "decode")
    return res


def parse_source(spec: str, s3: S3Options = S3Options()) -> FolderSource | S3Source:
    """``s3://bucket[/prefix]`` or a local file or folder (made absolute, so a resumed run finds it)."""
    if spec.startswith("s3://"):
        rest = spec[5:]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ConfigError(f"{spec!r}: an s3:// source needs a bucket (s3://bucket/prefix)")
        return S3Source(f"s3://{bucket}/{prefix}", bucket, prefix, s3)
    if "://" in spec:
        raise ConfigError(f"{spec!r}: only local paths and s3:// sources are supported")
    p = Path(spec)
    if not p.exists():
        raise ConfigError(f"no such file or folder: {spec}")
    return FolderSource(str(p.resolve()))


def is_archive_source(spec: str) -> bool:
    return spec.startswith("s3://")


def plan_shards(
    keys: Iterable[str], source_no: int, shard_size: int = DEFAULT_SHARD_SIZE, done: dict | None = None
) -> Iterator[Shard]:
    """Cut a listing into shards, lazily. ``done`` maps ``(source_no, shard_no)`` to the ``(first, last)`` keys
    a finished shard had: such a shard is skipped only if it still starts and ends with the same keys (the
    listing did not move under it); otherwise it is scanned again, which recording makes harmless."""
    if shard_size < 1:
        raise ConfigError("shard size must be at least 1")
    done = done or {}
    buf: list[str] = []
    shard_no = 0
    for key in keys:
        buf.append(key)
        if len(buf) == shard_size:
            if done.get((source_no, shard_no)) != (buf[0], buf[-1]):
                yield Shard(source_no, shard_no, tuple(buf))
            buf = []
            shard_no += 1
    if buf and done.get((source_no, shard_no)) != (buf[0], buf[-1]):
        yield Shard(source_no, shard_no, tuple(buf))


def specs_json(sources: list) -> str:
    return json.dumps([s.spec for s in sources])
