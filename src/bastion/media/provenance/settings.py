"""Settings for provenance inspection (a pydantic object, so it loads from config files like the rest)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ProvenanceSettings(BaseModel):
    """What :func:`bastion.media.provenance.inspect_bytes` reads and how much it may spend.

    Pixel checks (stealth PNG info, invisible watermark) need a decode; metadata and C2PA do not. When a
    caller already has the decoded image it passes it in and ``decode_pixels`` only governs whether we may
    decode ourselves.
    """

    model_config = ConfigDict(frozen=True)

    c2pa: bool = True
    c2pa_trust_anchors_pem: str | None = Field(default=None, description="PEM bundle of trusted C2PA root certificates")
    decode_pixels: bool = True
    watermark: bool = True
    stealth: bool = True
    max_metadata_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_field_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    max_decode_pixels: int = Field(default=50_000_000, gt=0)
    #: Generators write at most ~2k x 2k; larger images are upscaled (which destroys the mark anyway),
    #: and the decode costs ~80 ms per megapixel-ish, so bigger images are not checked (with a note).
    max_watermark_pixels: int = Field(default=4_194_304, gt=0)
