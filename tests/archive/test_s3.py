"""s3:// sources against a real S3 server (moto in server mode) on loopback — no mock objects."""

import io
import json

import pytest
from typer.testing import CliRunner

from bastion.cli import app
from bastion.demo import generated_pattern

runner = CliRunner()


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_server, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    name = f"archive-{id(monkeypatch):x}"
    s3.create_bucket(Bucket=name)
    for i in range(1, 13):
        buf = io.BytesIO()
        generated_pattern(i).resize((160, 120)).save(buf, "PNG")
        s3.put_object(Bucket=name, Key=f"uploads/{i % 3}/img{i:02d}.png", Body=buf.getvalue())
    s3.put_object(Bucket=name, Key="uploads/folder/", Body=b"")  # a folder marker, not a file
    s3.put_object(Bucket=name, Key="uploads/notes.txt", Body=b"not media")
    s3.put_object(Bucket=name, Key="elsewhere/img.png", Body=b"outside the prefix")
    return s3, name


def test_s3_prefix_scanned_once_per_key_and_matched(database_url, s3_server, bucket):
    s3, name = bucket
    db = ["--database-url", database_url]
    buf = io.BytesIO()
    generated_pattern(4).resize((160, 120)).save(buf, "PNG")
    assert runner.invoke(app, [*db, "bank", "create", "known"]).exit_code == 0
    from bastion.media.hashing import pdq_hash

    known = pdq_hash(buf.getvalue()).hash
    assert runner.invoke(app, [*db, "bank", "add", "known", known, "--type", "pdq"]).exit_code == 0

    r = runner.invoke(app, [*db, "scan", f"s3://{name}/uploads/", "--s3-endpoint", s3_server, "--shard-size", "5",
                            "--jobs", "2", "--jsonl"], catch_exceptions=False)
    assert r.exit_code == 1, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    paths = [x["path"] for x in rows]
    assert len(paths) == len(set(paths)) == 13
    assert f"s3://{name}/uploads/notes.txt" in paths and f"s3://{name}/elsewhere/img.png" not in paths
    by = {x["path"]: x for x in rows}
    assert by[f"s3://{name}/uploads/notes.txt"]["errors"][0]["code"] == "unsupported-media"
    matched = [p for p, x in by.items() if x["matches"]]
    assert matched == [f"s3://{name}/uploads/1/img04.png"]
    body = s3.get_object(Bucket=name, Key="uploads/1/img04.png")["Body"].read()
    import hashlib

    assert by[matched[0]]["sha256"] == hashlib.sha256(body).hexdigest()


def test_unknown_bucket_is_a_clear_error(database_url, s3_server, bucket):
    assert runner.invoke(app, ["--database-url", database_url, "bank", "create", "k"]).exit_code == 0
    r = runner.invoke(app, ["--database-url", database_url, "scan", "s3://no-such-bucket/x", "--s3-endpoint", s3_server],
                      catch_exceptions=False)
    assert r.exit_code == 2
    assert "cannot list s3://no-such-bucket/x" in r.output
