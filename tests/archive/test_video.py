"""Videos made here (a benign sample photo panning under a moving square), hashed with vPDQ, banked with
`bank add --file`, and matched against re-encoded, resized and trimmed copies — never against unrelated ones."""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from bastion.cli import app
from bastion.errors import InvalidHash, TruncatedMedia, UnsupportedMedia, VideoResolutionTooLarge, VideoTooLarge, VideoTooLong, VideoTooManyFrames
from bastion.media.video import VideoLimits, VpdqFrame, collapse, parse_signal, sniff_video, to_signal, vpdq_hash
from videos import encode, reencode, scene_frames

runner = CliRunner()
FPS = 8


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    original = encode(scene_frames(8, fps=FPS, size=(256, 192)), fps=FPS)
    files = {
        "original.mp4": original,
        "reencoded.webm": reencode(original, container="webm", fps=FPS),
        "resized.mov": reencode(original, container="mov", size=(128, 96), fps=FPS),
        "trimmed.mkv": reencode(original, container="matroska", start=2.0, end=6.0, fps=FPS),
        "unrelated.mp4": encode(scene_frames(8, fps=FPS, size=(256, 192), seed=7, photo="coffee"), fps=FPS),
        "unrelated2.webm": encode(scene_frames(6, fps=FPS, size=(256, 192), seed=3, photo="chelsea"), fps=FPS, container="webm"),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


def test_vpdq_samples_one_frame_a_second(videos):
    data = (videos / "original.mp4").read_bytes()
    assert sniff_video(data) == "mp4"
    h = vpdq_hash(data)
    assert (h.width, h.height, h.decoded_frames, h.sampled_frames) == (256, 192, 8 * FPS, 8)
    assert [f.timestamp for f in h.frames] == [float(i) for i in range(8)]
    assert all(len(f.hash) == 64 and f.quality >= 50 for f in h.frames)
    assert parse_signal(h.signal) == h.frames
    # one frame every two seconds
    assert [f.timestamp for f in vpdq_hash(data, seconds_per_hash=2.0).frames] == [0.0, 2.0, 4.0, 6.0]


def test_sniffing_knows_each_container(videos):
    assert [sniff_video((videos / n).read_bytes()) for n in ("reencoded.webm", "resized.mov", "trimmed.mkv")] == ["webm", "mov", "mkv"]
    from bastion.demo import generated_pattern

    buf = io.BytesIO()
    generated_pattern(1).save(buf, "PNG")
    assert sniff_video(buf.getvalue()) is None


def test_consecutive_identical_frames_collapse():
    a, b = "0" * 64, "f" * 64
    frames = [VpdqFrame(a, 100, 0.0), VpdqFrame(a, 100, 1.0), VpdqFrame(b, 100, 2.0), VpdqFrame(a, 100, 3.0)]
    assert [f.timestamp for f in collapse(frames)] == [0.0, 2.0, 3.0]  # only consecutive ones
    still = encode((next(scene_frames(0.125, fps=FPS)) for _ in range(4 * FPS)), fps=FPS)  # a still shot of 4 s
    h = vpdq_hash(still)
    assert h.sampled_frames == 4 and len(h.frames) == 1


def test_signal_format_is_python_threatexchange_vpdq():
    # as python-threatexchange writes it: a JSON list of "hash,quality,timestamp" (timestamps to 3 digits)
    theirs = json.dumps([f"{'a' * 64},100,0.0", f"{'b' * 64},87,1.0", f"{'c' * 64},12,1.23e+02"])
    frames = parse_signal(theirs)
    assert frames[2] == VpdqFrame("c" * 64, 12, 123.0)
    assert json.loads(to_signal(frames)) == [f"{'a' * 64},100,0.000", f"{'b' * 64},87,1.000", f"{'c' * 64},12,123.000"]
    for bad in ("[]", "not json", json.dumps(["abc,1,0"]), json.dumps([f"{'a' * 64},101,0"]), json.dumps([f"{'a' * 64},9,-1"])):
        with pytest.raises(InvalidHash):
            parse_signal(bad)


def test_decode_limits_raise_typed_errors(videos):
    data = (videos / "original.mp4").read_bytes()
    with pytest.raises(VideoTooLong):
        vpdq_hash(data, limits=VideoLimits(max_seconds=3))
    with pytest.raises(VideoTooManyFrames):
        vpdq_hash(data, limits=VideoLimits(max_frames=10))
    with pytest.raises(VideoResolutionTooLarge):
        vpdq_hash(data, limits=VideoLimits(max_pixels=100 * 100))
    with pytest.raises(VideoTooLarge):
        vpdq_hash(data, limits=VideoLimits(max_bytes=1000))
    with pytest.raises((TruncatedMedia, UnsupportedMedia)):
        vpdq_hash(data[:2000])
    assert VideoTooLong.code == "video-too-long"


def test_bank_add_file_then_scan_matches_copies_not_unrelated(database_url, videos, tmp_path):
    db = ["--database-url", database_url]
    assert runner.invoke(app, [*db, "bank", "create", "known-videos"]).exit_code == 0
    r = runner.invoke(app, [*db, "bank", "add", "known-videos", "--file", str(videos / "original.mp4"), "--label", "clip one"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "md5, sha256, vpdq" in r.output and "added 3" in r.output
    # adding the same file again merges, never doubles
    r = runner.invoke(app, [*db, "bank", "add", "known-videos", "--file", str(videos / "original.mp4")])
    assert "added 0, already present 3" in r.output

    r = runner.invoke(app, [*db, "scan", str(videos), "--jsonl", "--jobs", "1", "--no-provenance"], catch_exceptions=False)
    assert r.exit_code == 1, r.output
    rows = {json.loads(x)["path"].rsplit("/", 1)[1]: json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")}
    assert set(rows) == {"original.mp4", "reencoded.webm", "resized.mov", "trimmed.mkv", "unrelated.mp4", "unrelated2.webm"}
    for name in ("original.mp4", "reencoded.webm", "resized.mov", "trimmed.mkv"):
        vm = [m for m in rows[name]["matches"] if m["hash_type"] == "vpdq"]
        assert len(vm) == 1, (name, rows[name]["matches"])
        assert vm[0]["query_match_percent"] >= 80 and vm[0]["label"] == "clip one" and vm[0]["distance"] <= 31
    assert rows["trimmed.mkv"]["matches"][0]["compared_match_percent"] < 80  # 4 of the 8 seconds
    assert rows["original.mp4"]["video"]["vpdq"] and rows["original.mp4"]["format"] == "mp4"
    assert {m["hash_type"] for m in rows["original.mp4"]["matches"]} == {"md5", "sha256", "vpdq"}
    assert rows["unrelated.mp4"]["matches"] == [] and rows["unrelated2.webm"]["matches"] == []


def test_vpdq_and_video_md5_entries_round_trip_the_formats(database_url, videos, tmp_path):
    db = ["--database-url", database_url]
    sig = vpdq_hash((videos / "trimmed.mkv").read_bytes()).signal
    spaced = json.dumps(json.loads(sig))  # as json.dumps writes it by default: with spaces
    md5 = "0123456789abcdef0123456789abcdef"
    (tmp_path / "list.te").write_text(f"vpdq {spaced}\nvideo_md5 {md5}\n")
    assert runner.invoke(app, [*db, "bank", "create", "v"]).exit_code == 0
    r = runner.invoke(app, [*db, "bank", "import", "v", str(tmp_path / "list.te"), "--format", "te"], catch_exceptions=False)
    assert "added 2" in r.output, r.output
    for fmt in ("csv", "lines"):
        r = runner.invoke(app, [*db, "bank", "export", "v", "--format", fmt, "-o", str(tmp_path / f"out.{fmt}")])
        assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert {(x["hash_type"], x["hash"]) for x in rows} == {("vpdq", sig), ("md5", md5)}
    assert f"vpdq {sig}" in (tmp_path / "out.lines").read_text().splitlines()
    # importing the exports into another bank gives the same entries
    assert runner.invoke(app, [*db, "bank", "create", "w"]).exit_code == 0
    r = runner.invoke(app, [*db, "bank", "import", "w", str(tmp_path / "out.csv"), str(tmp_path / "out.lines")])
    assert "added 2, already present 2" in r.output, r.output  # the second file repeats the first
    # the scan of the trimmed video matches the imported entry
    r = runner.invoke(app, [*db, "scan", str(videos / "trimmed.mkv"), "--jsonl", "--bank", "w", "--no-provenance"])
    assert r.exit_code == 1 and json.loads(r.stdout.splitlines()[0])["matches"][0]["query_match_percent"] == 100.0


@pytest.mark.parametrize("name", ["original.mp4", "reencoded.webm", "resized.mov", "trimmed.mkv"])
def test_vpdq_agrees_with_the_reference_bindings(videos, name):
    """Meta's `vpdq` bindings (FFmpeg + the C++ hasher), when installed: same frames, same times, hashes within
    PDQ tolerance (measured: bit-identical on these files). Install: FFmpeg's -dev packages, then `pip install vpdq`."""
    vpdq = pytest.importorskip("vpdq", reason="the vpdq reference bindings are not installed (optional)")
    data = (videos / name).read_bytes()
    ref = vpdq.computeHash(str(videos / name), seconds_per_hash=1)
    ours = vpdq_hash(data, collapse_distance=-1).frames  # no collapsing: frame for frame
    assert len(ours) == len(ref) > 0
    for a, b in zip(ref, ours):
        assert abs(a.timestamp - b.timestamp) < 0.05
        assert (int(a.hex, 16) ^ int(b.hash, 16)).bit_count() <= 8
        assert abs(a.quality - b.quality) <= 5
