"""Shared set-up of the fuzz targets: small limits (a fuzzer must not spend its time on giant images) and
seed files written from the same builders as the tests (benign pictures, placeholder text)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "tests" / "scan"))
sys.path.insert(0, str(ROOT.parent / "tests" / "provenance"))


def small_limits():
    from bastion.media.decode import DecodeLimits

    return DecodeLimits(max_pixels=4_000_000, max_side=8192, max_decoded_bytes=64_000_000)


def image_seeds() -> dict[str, bytes]:
    import numpy as np
    from PIL import Image

    import probes

    small = probes.pattern(1).resize((96, 64))
    out = {"png": probes.png_bytes(small), "jpeg": probes.jpeg_bytes(small)}
    for fmt in ("GIF", "BMP", "TIFF", "WEBP"):
        buf = io.BytesIO()
        small.save(buf, fmt)
        out[fmt.lower()] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray((np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20)).save(buf, "PNG")
    out["png16"] = buf.getvalue()
    out["damaged-crc"] = probes.with_bad_crc_chunk(small)
    out["cut"] = probes.jpeg_cut(small, 64)
    return out


def provenance_seeds() -> dict[str, bytes]:
    import prov_builders as pb

    out = {
        "a1111": pb.png_with_text({"parameters": pb.a1111_infotext()}),
        "comfy": pb.png_with_text({"prompt": '{"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "a watercolor landscape"}}}',
                                   "workflow": '{"nodes": [], "links": []}'}),
        "invoke": pb.png_with_text({"invokeai_metadata": '{"positive_prompt": "a watercolor landscape", "seed": 1}'}),
        "novelai": pb.png_with_text({"Software": "NovelAI", "Comment": '{"prompt": "a watercolor landscape", "seed": 1}'}),
        "ztxt": pb.png_with_text({"parameters": pb.a1111_infotext()}, zip_keys=("parameters",)),
        "xmp": pb.png_with_text({"XML:com.adobe.xmp": pb.xmp_packet('<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"/>')}),
        "jpeg-exif": pb.jpeg_with_segments([(0xE1, b"Exif\x00\x00" + pb.exif_bytes({0x010E: "a watercolor landscape"}))]),
    }
    return out


def write_seeds(folder: Path, seeds: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        return
    for name, data in seeds.items():
        (folder / name).write_bytes(data)


def run(test_one, seeds: dict[str, bytes], name: str) -> None:
    """atheris main with the seed corpus in fuzz/corpus/<name> (written on first run) unless a corpus
    folder is given on the command line."""
    import atheris

    args = list(sys.argv)
    if not any(os.path.exists(a) for a in args[1:]):  # a corpus folder, or files to replay
        corpus = ROOT / "corpus" / name
        write_seeds(corpus, seeds)
        args.append(str(corpus))
    atheris.Setup(args, test_one)
    atheris.Fuzz()
