"""C2PA: AI-made, not-AI, tampered and unsigned files told apart; trust anchors; nothing fetched.

Fixtures are signed here with a throw-away ES256 chain (self-made root CA + leaf with the emailProtection
EKU that C2PA accepts), so no key or certificate is ever committed.
"""

from __future__ import annotations

import datetime
import io
import json

import c2pa  # a hard dependency: imported plainly, never skipped
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image
from prov_builders import gradient, insert_chunks_after_idat, itxt_chunk, png_with_text, xmp_packet

from bastion.media.provenance import ProvenanceSettings, inspect_bytes
from bastion.media.provenance.c2pa import summarise_store

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
NO_PIXELS = ProvenanceSettings(watermark=False, stealth=False)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bastion Test")])


def _usage(**on: bool) -> x509.KeyUsage:
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


@pytest.fixture(scope="module")
def chain():
    now = datetime.datetime.now(datetime.UTC)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = (x509.CertificateBuilder().subject_name(_name("Test Root")).issuer_name(_name("Test Root"))
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(_name("Test Signer")).issuer_name(root.subject)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    certs = leaf.public_bytes(pem) + root.public_bytes(pem)
    key = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {"certs": certs, "key": key, "root_pem": root.public_bytes(pem).decode()}


def sign(chain, source: bytes, mime: str, source_type: str | None, generator: str = "test-generator") -> bytes:
    action = {"action": "c2pa.created"}
    if source_type:
        action["digitalSourceType"] = DST + source_type
    manifest = {"claim_generator_info": [{"name": generator, "version": "1.0"}], "title": "fixture",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}]}
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain["certs"], chain["key"], None))
    out = io.BytesIO()
    c2pa.Builder(json.dumps(manifest)).sign(signer, mime, io.BytesIO(source), out)
    return out.getvalue()


def plain_png() -> bytes:
    return png_with_text({})


def test_ai_made_png(chain):
    r = inspect_bytes(sign(chain, plain_png(), "image/png", "trainedAlgorithmicMedia", "a-generator"), settings=NO_PIXELS)
    assert r.c2pa is not None
    assert r.c2pa.state == "Valid" and not r.c2pa.tampered and not r.c2pa.trusted
    assert r.c2pa.ai_generated and r.ai_generated
    assert r.c2pa.digital_source_types == ["trainedAlgorithmicMedia"]
    assert r.c2pa.claim_generator == "a-generator 1.0"
    assert r.c2pa.failure_codes == ["signingCredential.untrusted"]
    sig = [s for s in r.signals() if s.category == "ai_generated"]
    assert len(sig) == 1 and sig[0].evidence["trace"] == "c2pa" and sig[0].weight == 0.9


def test_composite_with_ai_is_ai_and_algorithmic_media_is_not(chain):
    r = inspect_bytes(sign(chain, plain_png(), "image/png", "compositeWithTrainedAlgorithmicMedia"), settings=NO_PIXELS)
    assert r.c2pa.ai_generated
    r = inspect_bytes(sign(chain, plain_png(), "image/png", "algorithmicMedia"), settings=NO_PIXELS)
    assert r.c2pa is not None and not r.c2pa.ai_generated and not r.ai_generated
    assert r.c2pa.digital_source_types == ["algorithmicMedia"]


def test_not_ai_camera_capture_jpeg(chain):
    buf = io.BytesIO()
    gradient(128, 96).save(buf, "JPEG", quality=90)
    r = inspect_bytes(sign(chain, buf.getvalue(), "image/jpeg", "digitalCapture"), settings=NO_PIXELS)
    assert r.format == "jpeg" and r.c2pa is not None and r.c2pa.state == "Valid"
    assert not r.c2pa.ai_generated and not r.ai_generated
    assert [s for s in r.signals() if s.category == "ai_generated"] == []


def test_trusted_with_configured_anchor(chain):
    data = sign(chain, plain_png(), "image/png", "trainedAlgorithmicMedia")
    r = inspect_bytes(data, settings=ProvenanceSettings(watermark=False, stealth=False, c2pa_trust_anchors_pem=chain["root_pem"]))
    assert r.c2pa.state == "Trusted" and r.c2pa.trusted and r.c2pa.failure_codes == []
    assert [s.weight for s in r.signals() if s.category == "ai_generated"] == [1.0]


def test_tampered_after_signing(chain):
    signed = sign(chain, png_with_text({}, image=gradient(64, 64)), "image/png", "trainedAlgorithmicMedia")
    at = signed.find(b"IDAT") + 12
    tampered = signed[:at] + bytes([signed[at] ^ 0xFF]) + signed[at + 1 :]
    r = inspect_bytes(tampered, settings=NO_PIXELS)
    assert r.c2pa.state == "Invalid" and r.c2pa.tampered
    assert "assertion.dataHash.mismatch" in r.c2pa.failure_codes
    # The claim still says "AI-made originally"; it is reported with a lower weight.
    assert r.c2pa.ai_generated
    assert [s.weight for s in r.signals() if s.category == "ai_generated"] == [0.6]


def test_unsigned_and_resaved_files_have_no_manifest(chain):
    assert inspect_bytes(plain_png(), settings=NO_PIXELS).c2pa is None
    signed = sign(chain, plain_png(), "image/png", "trainedAlgorithmicMedia")
    buf = io.BytesIO()
    Image.open(io.BytesIO(signed)).save(buf, "PNG")  # re-saving strips the manifest: absence proves nothing
    assert inspect_bytes(buf.getvalue(), settings=NO_PIXELS).c2pa is None


def test_corrupt_manifest_is_a_note_not_an_exception(chain):
    signed = sign(chain, plain_png(), "image/png", "trainedAlgorithmicMedia")
    at = signed.find(b"caBX") + 200
    broken = signed[:at] + b"\x00" * 64 + signed[at + 64 :]
    r = inspect_bytes(broken, settings=NO_PIXELS)
    assert r.c2pa is not None and (r.c2pa.state in ("Unreadable", "Invalid"))
    assert r.notes


def test_remote_manifest_reference_is_reported_not_fetched():
    xml = xmp_packet('<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" '
                     'dcterms:provenance="https://example.invalid/manifests/abc.c2pa"/>')
    data = insert_chunks_after_idat(plain_png(), itxt_chunk("XML:com.adobe.xmp", xml))
    r = inspect_bytes(data, settings=NO_PIXELS)
    assert r.c2pa.state == "Remote" and r.c2pa.remote_url == "https://example.invalid/manifests/abc.c2pa"
    assert any("not fetched" in n for n in r.notes)


def test_ingredient_manifest_declaring_ai_counts():
    store = {"active_manifest": "urn:a", "validation_state": "Valid",
             "manifests": {"urn:a": {"claim_generator_info": [{"name": "editor"}],
                                     "ingredients": [{"title": "base.png", "format": "image/png", "relationship": "parentOf",
                                                      "active_manifest": "urn:b"}],
                                     "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [{"action": "c2pa.edited"}]}}]},
                           "urn:b": {"assertions": [{"label": "c2pa.actions", "data": {"actions": [
                               {"action": "c2pa.created", "digitalSourceType": DST + "trainedAlgorithmicMedia"}]}}]}}}
    res = summarise_store(store)
    assert res.ai_generated and "ingredient manifest urn:b" in res.ai_evidence
    assert res.ingredients == [{"title": "base.png", "format": "image/png", "relationship": "parentOf", "active_manifest": "urn:b"}]
