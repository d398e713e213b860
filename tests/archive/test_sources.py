"""Listing and sharding: stable, lazy, and a ledger entry only skips a shard that still holds the same keys."""

import pytest

from bastion.errors import ConfigError
from bastion.sources import FolderSource, S3Source, parse_source, plan_shards


def test_shards_cut_the_listing_in_order():
    keys = [f"k{i:03d}" for i in range(12)]
    shards = list(plan_shards(iter(keys), 0, 5))
    assert [(s.shard_no, s.keys) for s in shards] == [(0, tuple(keys[:5])), (1, tuple(keys[5:10])), (2, tuple(keys[10:]))]
    assert shards[1].first_key == "k005" and shards[1].last_key == "k009"


def test_ledger_skips_only_unchanged_shards():
    keys = [f"k{i:03d}" for i in range(12)]
    done = {(0, 0): ("k000", "k004"), (0, 1): ("k005", "k009")}
    assert [s.shard_no for s in plan_shards(iter(keys), 0, 5, done)] == [2]
    # a key appeared under shard 0: both shards now hold other keys and are scanned again
    moved = ["k000a", *keys]
    assert [s.shard_no for s in plan_shards(iter(moved), 0, 5, done)] == [0, 1, 2]
    # another source's ledger does not count
    assert [s.shard_no for s in plan_shards(iter(keys), 1, 5, done)] == [0, 1, 2]
    with pytest.raises(ConfigError):
        list(plan_shards(iter(keys), 0, 0))


def test_listing_is_lazy():
    def endless():
        i = 0
        while True:
            yield f"k{i}"
            i += 1

    it = plan_shards(endless(), 0, 3)
    assert next(it).keys == ("k0", "k1", "k2") and next(it).keys == ("k3", "k4", "k5")


def test_parse_source(tmp_path):
    (tmp_path / "x").mkdir()
    src = parse_source(str(tmp_path / "x" / ".." / "x"))
    assert isinstance(src, FolderSource) and src.spec == str((tmp_path / "x").resolve())
    s3 = parse_source("s3://bucket/some/prefix/")
    assert isinstance(s3, S3Source) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix/")
    assert parse_source("s3://bucket").prefix == ""
    for bad in ("s3://", "gs://bucket/x", str(tmp_path / "missing")):
        with pytest.raises(ConfigError):
            parse_source(bad)
