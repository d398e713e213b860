"""Make the committed invisible-watermark fixtures with the *reference* encoder (run once, by hand).

Why this exists: Bastion decodes the Stable Diffusion dwtDct watermark with its own small decoder
(`bastion.media.provenance.watermark`) so that it never depends on `invisible-watermark`, which pulls in
torch. To prove that decoder right we need images marked by the real encoder, made exactly the way the
generators make them, plus the reference decoder's own reading of them. This script writes both.

Run it in a throw-away virtualenv, never in Bastion's own environment::

    python3 -m venv /tmp/wmvenv
    /tmp/wmvenv/bin/pip install --no-deps invisible-watermark==0.2.0
    /tmp/wmvenv/bin/pip install numpy PyWavelets opencv-python-headless Pillow scikit-image
    /tmp/wmvenv/bin/python tools/make_watermark_fixtures.py tests/provenance/fixtures/watermark

Images are benign: crops of scikit-image sample photos (a cat, a cup of coffee, a rocket) and a generated
gradient with shapes, 256x256 so the fixtures stay small (the encoder refuses anything under 256x256).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import cv2
import numpy as np

# imwatermark imports torch/onnxruntime at module level only for its RivaGAN method, which we never
# use; placeholder modules let the dwtDct code import without installing ~5 GB of torch.
for _missing in ("torch", "onnxruntime"):
    try:
        __import__(_missing)
    except ImportError:
        sys.modules[_missing] = types.ModuleType(_missing)

from imwatermark import WatermarkDecoder, WatermarkEncoder  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

# The messages the generators embed (copied from their sources).
SD1_MESSAGE = b"StableDiffusionV1"  # CompVis/stable-diffusion scripts/txt2img.py
SD2_MESSAGE = b"SDV2"  # Stability-AI/stablediffusion scripts/txt2img.py
SDXL_MESSAGE = 0b101100111110110010010000011110111011000110011110  # diffusers pipelines/stable_diffusion_xl/watermark.py
SDXL_BITS = [int(b) for b in bin(SDXL_MESSAGE)[2:]]


def benign_images() -> dict[str, np.ndarray]:
    """256x256 RGB uint8 benign images."""
    yy, xx = np.mgrid[0:256, 0:256]
    gradient = np.stack([xx, yy, (xx + yy) // 2], axis=-1).astype(np.uint8)
    cv2.circle(gradient, (90, 100), 50, (240, 200, 40), -1)
    cv2.rectangle(gradient, (150, 150), (230, 220), (30, 60, 200), -1)
    return {
        "cat": data.chelsea()[20:276, 100:356],
        "coffee": data.coffee()[70:326, 170:426],
        "rocket": data.rocket()[100:356, 200:456],
        "shapes": gradient,
    }


def sd1_script_mark(rgb: np.ndarray, message: bytes) -> np.ndarray:
    """What the SD 1.x/2.x `txt2img.py` scripts do: uint8 BGR in, dwtDct, back to RGB."""
    encoder = WatermarkEncoder()
    encoder.set_watermark("bytes", message)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return encoder.encode(bgr, "dwtDct")[:, :, ::-1].copy()


def sdxl_diffusers_mark(rgb: np.ndarray, flip_to_bgr: bool) -> np.ndarray:
    """What diffusers' StableDiffusionXLWatermarker does: float32 0..255, dwtDct, round to uint8 later.

    Older diffusers passed RGB straight in (the encoder treats it as BGR); newer ones flip to BGR first.
    """
    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", SDXL_BITS)
    img = rgb.astype(np.float32)
    if flip_to_bgr:
        img = img[:, :, ::-1]
    img = encoder.encode(np.ascontiguousarray(img), "dwtDct")
    if flip_to_bgr:
        img = img[:, :, ::-1]
    # diffusers: clamp to [-1, 1] then the image processor does (x/2+0.5)*255 rounded to uint8.
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def reference_bits(rgb: np.ndarray, length: int, as_float: bool, flip_to_bgr: bool) -> list[int]:
    img = rgb.astype(np.float32) if as_float else rgb
    img = img[:, :, ::-1] if flip_to_bgr else img
    return [int(b) for b in WatermarkDecoder("bits", length).decode(np.ascontiguousarray(img), "dwtDct")]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = {}
    for name, rgb in benign_images().items():
        marked = {
            f"{name}_sd1.png": ("sd1", sd1_script_mark(rgb, SD1_MESSAGE)),
            f"{name}_sdxl_bgr.png": ("sdxl_bgr", sdxl_diffusers_mark(rgb, flip_to_bgr=True)),
            f"{name}_sdxl_rgb.png": ("sdxl_rgb", sdxl_diffusers_mark(rgb, flip_to_bgr=False)),
            f"{name}_clean.png": ("clean", rgb),
        }
        if name == "cat":
            marked[f"{name}_sd2.png"] = ("sd2", sd1_script_mark(rgb, SD2_MESSAGE))
        for fname, (kind, img) in marked.items():
            Image.fromarray(img).save(out / fname, optimize=True)
            saved = np.asarray(Image.open(out / fname).convert("RGB"))
            # The reference decoder's reading of the file as saved, both ways, so the test can
            # compare Bastion's decoder bit for bit.
            manifest[fname] = {
                "kind": kind,
                "ref_uint8_bgr_136": reference_bits(saved, 136, as_float=False, flip_to_bgr=True),
                "ref_uint8_bgr_32": reference_bits(saved, 32, as_float=False, flip_to_bgr=True),
                "ref_float_bgr_48": reference_bits(saved, 48, as_float=True, flip_to_bgr=True),
                "ref_float_rgb_48": reference_bits(saved, 48, as_float=True, flip_to_bgr=False),
            }
    (out / "reference.json").write_text(json.dumps(manifest, indent=0, sort_keys=True))
    print(f"wrote {len(manifest)} fixtures to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/provenance/fixtures/watermark"))
