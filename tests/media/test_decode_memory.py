"""Memory per file (issue 12, item 3): the decode is bounded by the bytes of its pixel buffers, not by the
pixel count alone. A float32 TIFF of 9999² (438 KB on disk) took 4.5 GB and a 16-bit PNG of 9999² (194 KB)
4.1 GB. Checked for real: the files are examined in a child process whose data segment is capped with
``resource.setrlimit`` at what it uses after start-up plus the documented per-worker bound."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "scan"))
import probes  # noqa: E402

from bastion.errors import DecompressionBomb
from bastion.media.decode import DEFAULT_LIMITS, DecodeLimits, decode_rgb

resource = pytest.importorskip("resource")

CHILD = r"""
import json, resource, sys
from bastion.scan import examine_file
examine_file(sys.argv[1])  # warm: every import and first-use allocation happens before the cap

def vm_data():
    for line in open("/proc/self/status"):
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024

cap = vm_data() + int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
for path in sys.argv[3:]:
    r = examine_file(path)
    print(json.dumps({"path": path, "pdq": r.pdq, "errors": r.errors}))
"""


@pytest.fixture(scope="module")
def probe_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("memory")
    (d / "warm.png").write_bytes(probes.png_bytes(probes.pattern(1)))
    (d / "float32-9999.tif").write_bytes(probes.float_tiff(9999))
    (d / "sixteen-bit-9999.png").write_bytes(probes.sixteen_bit_png(9999))
    return d


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmData from /proc")
def test_high_bit_depth_probes_stay_within_the_per_worker_bound(probe_files):
    bound = 300 * 1024 * 1024 + 64 * 1024 * 1024  # the documented 300 MB, plus slack for the hash and libraries
    files = [probe_files / "float32-9999.tif", probe_files / "sixteen-bit-9999.png"]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(probe_files / "warm.png"), str(bound), *map(str, files)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {Path(r["path"]).name: r for r in map(json.loads, proc.stdout.splitlines())}
    # The 16-bit PNG (200 MB as Pillow holds it) is converted in strips and hashed.
    png = rows["sixteen-bit-9999.png"]
    assert png["errors"] == [] and len(png["pdq"]) == 64
    # The float TIFF needs 400 MB for Pillow's buffer alone: refused up front, by its buffer size, not by
    # running out of memory half way.
    tif = rows["float32-9999.tif"]
    assert [e["code"] for e in tif["errors"]] == ["decompression-bomb"]
    assert "bytes of pixel buffers" in tif["errors"][0]["message"]


def test_the_buffer_limit_counts_bytes_of_the_mode_not_pixels():
    data = probes.sixteen_bit_png(1000)  # 1 MP of 2 bytes
    assert len(decode_rgb(data).image.getbands()) == 3
    with pytest.raises(DecompressionBomb, match="mode I;16"):
        decode_rgb(data, limits=DecodeLimits(max_decoded_bytes=2_000_000))
    assert DEFAULT_LIMITS.max_decoded_bytes == 300_000_000


def test_strips_give_the_same_pixels_as_a_whole_conversion():
    import numpy as np
    from PIL import Image

    from bastion.media.decode import _scale_to_uint8, to_rgb

    rng = np.random.default_rng(5)
    for mode, arr in (("I;16", rng.integers(0, 65536, (700, 300), dtype=np.uint16)),
                      ("F", rng.normal(0, 10, (700, 300)).astype(np.float32))):
        im = Image.fromarray(arr)
        assert im.mode == mode
        whole = _scale_to_uint8(np.asarray(im), mode == "I;16")
        assert np.array_equal(np.asarray(to_rgb(im))[:, :, 0], whole)
