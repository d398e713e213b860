"""Fuzz target: the C2PA/JUMBF path. The fuzzed bytes become the JUMBF payload of a JPEG APP11 segment
(and, one time in two, of a PNG caBX chunk), then the file is inspected with C2PA reading on.

    .venv/bin/python fuzz/fuzz_c2pa.py -max_total_time=600
"""

import struct
import zlib

import atheris

with atheris.instrument_imports():
    from bastion.media.provenance import ProvenanceSettings, inspect_bytes

from _common import image_seeds, run

SETTINGS = ProvenanceSettings(watermark=False, stealth=False, decode_pixels=False)
_IMAGES = image_seeds()
JPEG, PNG = _IMAGES["jpeg"], _IMAGES["png"]


def _app11(payload: bytes) -> bytes:
    body = b"JP" + b"\x00\x01" + b"\x00\x00\x00\x01" + payload[:65000]
    return b"\xff\xeb" + struct.pack(">H", len(body) + 2) + body


def _cabx(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + b"caBX" + payload + struct.pack(">I", zlib.crc32(b"caBX" + payload))


def test_one(data: bytes) -> None:
    if not data:
        return
    if data[0] & 1:
        f = JPEG[:2] + _app11(data[1:]) + JPEG[2:]
    else:
        f = PNG[:33] + _cabx(data[1:]) + PNG[33:]
    inspect_bytes(f, filename=None, settings=SETTINGS).to_dict()


def _seeds() -> dict[str, bytes]:
    box = struct.pack(">I", 8 + 17) + b"jumd" + b"c2pa" + b"\x00\x11\x00\x10\x80\x00\xaa\x008\x9bq" + b"\x03c2pa\x00"
    return {"jumbf-min": b"\x01" + struct.pack(">I", len(box) + 8) + b"jumb" + box, "png-min": b"\x00" + box}


if __name__ == "__main__":
    run(test_one, _seeds(), "c2pa")
