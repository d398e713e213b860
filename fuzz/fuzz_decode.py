"""Fuzz target: decode (strict, then tolerant) and PDQ of arbitrary bytes.

    .venv/bin/python fuzz/fuzz_decode.py -max_total_time=600

Only typed media errors may come out; anything else (or a crash) is a finding."""

import atheris

with atheris.instrument_imports():
    from bastion.errors import MediaError
    from bastion.media.decode import decode_rgb
    from bastion.media.hashing import pdq_dihedral_from_image

from _common import image_seeds, run, small_limits

LIMITS = small_limits()


def test_one(data: bytes) -> None:
    try:
        decoded = decode_rgb(data, limits=LIMITS, min_side=64)
    except MediaError:
        return
    pdq_dihedral_from_image(decoded.image)


if __name__ == "__main__":
    run(test_one, image_seeds(), "decode")
