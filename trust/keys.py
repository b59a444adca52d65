"""Public keys that may sign evidence, and the Ed25519 key an organisation signs its exports with."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

# DSSE names no algorithm: the key decides. RSA needs a padding, PSS unless the trust file says PKCS#1 v1.5.
Scheme = Literal["rsa-pss-sha256", "rsa-pkcs1v15-sha256"]
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class KeyProblem(ValueError):
    """A key that cannot be read or used; the message names it and says why."""


@dataclass(frozen=True)
class TrustedKey:
    """A public key evidence may be signed with: its id (a DSSE signature's keyid) and who it stands for."""

    id: str
    name: str
    key: PublicKey
    scheme: Scheme = "rsa-pss-sha256"

    def verifies(self, signature: bytes, data: bytes) -> bool:
        """Whether `signature` is this key's signature over `data` (never raises)."""
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, data)
            elif isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            elif self.scheme == "rsa-pkcs1v15-sha256":
                self.key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            else:
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
                self.key.verify(signature, data, pss, hashes.SHA256())
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def public_key(pem: bytes, *, where: str) -> PublicKey:
    """An Ed25519, ECDSA P-256 or RSA (2048 bits or more) public key from PEM."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyProblem(f"{where} is not a PEM public key ({exc.__class__.__name__})") from None
    if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, ec.SECP256R1):
        raise KeyProblem(f"{where} is an ECDSA key on {key.curve.name}; only P-256 is accepted")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise KeyProblem(f"{where} is a {key.key_size}-bit RSA key; at least 2048 bits are needed")
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise KeyProblem(f"{where} is a {type(key).__name__}; use Ed25519, ECDSA P-256 or RSA")
    return key


def key_id(key: PublicKey) -> str:
    """A key's id when nobody named it: the SHA-256 of its SubjectPublicKeyInfo (DER), in hex."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_pem(key: PublicKey) -> bytes:
    """The PEM of a public key (what `verify-export --key` reads)."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class SigningKey:
    """The organisation's Ed25519 export key: signs, and says its key id. Its repr never shows the key."""

    private: ed25519.Ed25519PrivateKey
    id: str

    def __repr__(self) -> str:
        return f"SigningKey(id={self.id!r})"

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    @property
    def public(self) -> ed25519.Ed25519PublicKey:
        return self.private.public_key()


def signing_key(pem: bytes, *, where: str) -> SigningKey:
    """An Ed25519 private key from PEM (PKCS#8 or OpenSSH, unencrypted); its key id is that of its public half."""
    key: object
    try:
        if pem.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY"):
            key = serialization.load_ssh_private_key(pem, password=None)
        else:
            key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # Never echo the key: only where it came from and what kind of problem it is.
        raise KeyProblem(f"{where} is not an unencrypted PEM private key ({exc.__class__.__name__})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyProblem(f"{where} is a {type(key).__name__}; exports are signed with an Ed25519 key")
    return SigningKey(key, key_id(key.public_key()))


def b64decode(text: object, *, what: str) -> bytes:
    """Standard or URL-safe base64 (padding optional), strictly; ValueError naming `what` otherwise."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{what} is not a base64 string")
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
