"""Deterministic RSA keys: FIPS 186-5 style prime search driven by a keyed byte stream.

Each candidate is fresh from the stream (top two bits and the low bit set), trial-divided, then
put through Miller-Rabin with witnesses from the same stream. The stream is HMAC-SHA256 in counter
mode (NIST SP 800-108), keyed by an HKDF output, so the key is a pure function of the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import math

from cryptography.hazmat.primitives.asymmetric import rsa

PUBLIC_EXPONENT = 65537
# Candidates are random, not adversarial: FIPS 186-5 table B.1 asks for at most 5 rounds at
# these sizes; 16 leaves a wide margin at a quarter of the cost of 64.
_MILLER_RABIN_ROUNDS = 16
_SMALL_PRIME_LIMIT = 100_000
# FIPS 186-5 A.1.3: |p - q| > 2^(nlen/2 - 100), and d > 2^(nlen/2).
_PRIME_DISTANCE_SLACK = 100


def _small_primes_product(limit: int) -> int:
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\x00\x00"
    for n in range(2, math.isqrt(limit) + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytearray(len(sieve[n * n :: n]))
    return math.prod(n for n in range(3, limit) if sieve[n])


_SMALL_PRIMES = _small_primes_product(_SMALL_PRIME_LIMIT)


class ByteStream:
    """An endless deterministic byte stream: HMAC-SHA256(key, counter) blocks, counter from 0."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._counter = 0
        self._buffer = b""

    def __repr__(self) -> str:
        return "ByteStream(key=<redacted>)"

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            block = self._counter.to_bytes(8, "big")
            self._buffer += hmac.new(self._key, block, hashlib.sha256).digest()
            self._counter += 1
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def integer(self, bits: int) -> int:
        return int.from_bytes(self.read((bits + 7) // 8), "big") >> (-bits % 8)


def _is_probable_prime(candidate: int, stream: ByteStream) -> bool:
    """Miller-Rabin with witnesses in [2, candidate - 2] drawn from the stream."""
    odd, twos = candidate - 1, 0
    while odd % 2 == 0:
        odd, twos = odd // 2, twos + 1
    for _ in range(_MILLER_RABIN_ROUNDS):
        # 64 extra bits make the reduction's bias negligible.
        witness = stream.integer(candidate.bit_length() + 64) % (candidate - 3) + 2
        x = pow(witness, odd, candidate)
        if x in (1, candidate - 1):
            continue
        for _ in range(twos - 1):
            x = pow(x, 2, candidate)
            if x == candidate - 1:
                break
        else:
            return False
    return True


def probable_prime(stream: ByteStream, bits: int) -> int:
    """The first prime candidate from the stream with exactly `bits` bits, the top two set."""
    while True:
        candidate = stream.integer(bits) | (0b11 << (bits - 2)) | 1
        if math.gcd(candidate, _SMALL_PRIMES) != 1 or candidate % PUBLIC_EXPONENT == 1:
            continue
        if _is_probable_prime(candidate, stream):
            return candidate


def rsa_private_key(stream: ByteStream, bits: int) -> rsa.RSAPrivateKey:
    """An RSA key of exactly `bits` bits with e = 65537, from primes found in the stream."""
    half = bits // 2
    p = probable_prime(stream, half)
    while True:
        q = probable_prime(stream, half)
        if abs(p - q) <= 1 << (half - _PRIME_DISTANCE_SLACK):
            continue
        d = pow(PUBLIC_EXPONENT, -1, math.lcm(p - 1, q - 1))
        if d > 1 << half:
            break
    public = rsa.RSAPublicNumbers(PUBLIC_EXPONENT, p * q)
    crt = (rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q))
    return rsa.RSAPrivateNumbers(p, q, d, *crt, public).private_key()
