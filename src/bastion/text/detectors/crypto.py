"""Cryptocurrency address validation: Bitcoin (Base58Check, Bech32/Bech32m), Ethereum (EIP-55), Monero.

Why validate: a string that merely looks like an address is weak evidence, while one whose checksum
verifies was almost certainly pasted from a wallet. Keccak-256 (used by Ethereum and Monero, and *not*
the same as ``hashlib.sha3_256``) is implemented here in pure Python because the standard library lacks
it; it only runs on candidate addresses, so its speed does not matter.
"""

from __future__ import annotations

import hashlib

__all__ = ["keccak256", "valid_btc_base58", "valid_btc_bech32", "eth_checksum_status", "valid_xmr"]

# --- Keccak-256 ----------------------------------------------------------------------------------

_RC = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)
_ROT = ((0, 36, 3, 41, 18), (1, 44, 10, 45, 2), (62, 6, 43, 15, 61), (28, 55, 25, 21, 56), (27, 20, 39, 8, 14))
_MASK = (1 << 64) - 1


def _rol(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & _MASK if n else v


def _keccak_f(a: list[list[int]]) -> list[list[int]]:
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        a = [[b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y]) for y in range(5)] for x in range(5)]
        a[0][0] ^= rc
    return a


def _sponge(data: bytes, pad: int, rate: int = 136, out: int = 32) -> bytes:
    msg = bytearray(data)
    msg.append(pad)
    while len(msg) % rate:
        msg.append(0)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(msg[off + 8 * i : off + 8 * i + 8], "little")
        a = _keccak_f(a)
    return b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(rate // 8))[:out]


def keccak256(data: bytes) -> bytes:
    """Original Keccak-256 (padding 0x01), as used by Ethereum and Monero."""
    return _sponge(data, 0x01)


def _sha3_256(data: bytes) -> bytes:
    """SHA3-256 through the same sponge; used by tests to check the permutation against hashlib."""
    return _sponge(data, 0x06)


# --- Base58 --------------------------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def _b58decode_int(s: str) -> int | None:
    n = 0
    for c in s:
        i = _B58_INDEX.get(c)
        if i is None:
            return None
        n = n * 58 + i
    return n


def valid_btc_base58(addr: str) -> bool:
    """Legacy (1...) and P2SH (3...) addresses: Base58Check with a double-SHA-256 checksum."""
    n = _b58decode_int(addr)
    if n is None:
        return False
    pad = len(addr) - len(addr.lstrip("1"))
    try:
        raw = b"\x00" * pad + n.to_bytes((n.bit_length() + 7) // 8, "big")
    except OverflowError:
        return False
    if len(raw) != 25 or raw[0] not in (0x00, 0x05):
        return False
    return hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4] == raw[21:]


# --- Bech32 / Bech32m (BIP-173, BIP-350) ---------------------------------------------------------

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if (top >> i) & 1 else 0
    return chk


def valid_btc_bech32(addr: str) -> bool:
    """SegWit addresses (bc1...): witness v0 must use Bech32, v1+ Bech32m."""
    if addr.lower() != addr and addr.upper() != addr:
        return False  # mixed case is invalid by BIP-173
    a = addr.lower()
    pos = a.rfind("1")
    if a[:pos] != "bc" or not 14 <= len(a) <= 90:
        return False
    try:
        data = [_BECH32.index(c) for c in a[pos + 1 :]]
    except ValueError:
        return False
    if len(data) < 7:
        return False
    hrp = [ord(c) >> 5 for c in "bc"] + [0] + [ord(c) & 31 for c in "bc"]
    const = _polymod(hrp + data)
    version = data[0]
    if version == 0:
        return const == 1
    return const == 0x2BC830A3 and version <= 16


# --- Ethereum EIP-55 -----------------------------------------------------------------------------


def eth_checksum_status(addr: str) -> str:
    """``"valid"`` (mixed case, EIP-55 checksum verifies), ``"invalid"`` (mixed case, does not verify) or
    ``"unchecked"`` (single case: EIP-55 carries no checksum then)."""
    body = addr[2:]
    if body.lower() == body or body.upper() == body:
        return "unchecked"
    digest = keccak256(body.lower().encode("ascii")).hex()
    for c, h in zip(body, digest):
        if c.isalpha() and (c.isupper() != (int(h, 16) >= 8)):
            return "invalid"
    return "valid"


# --- Monero --------------------------------------------------------------------------------------

_XMR_BLOCK_SIZES = {0: 0, 2: 1, 3: 2, 5: 3, 6: 4, 7: 5, 9: 6, 10: 7, 11: 8}


def _xmr_b58decode(s: str) -> bytes | None:
    out = bytearray()
    for off in range(0, len(s), 11):
        chunk = s[off : off + 11]
        size = _XMR_BLOCK_SIZES.get(len(chunk))
        n = _b58decode_int(chunk)
        if size is None or n is None or n >= 1 << (8 * size):
            return None
        out += n.to_bytes(size, "big")
    return bytes(out)


def valid_xmr(addr: str) -> bool:
    """Standard (4...), sub- (8...) and integrated addresses: Keccak-256 checksum over the payload."""
    raw = _xmr_b58decode(addr)
    if raw is None or len(raw) not in (69, 77):
        return False
    return keccak256(raw[:-4])[:4] == raw[-4:]
