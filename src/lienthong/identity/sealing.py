"""Secrets of authenticators (TOTP seeds), sealed at rest with the node's key.

Same construction as the signing keys of lienthong.trust.keystore: AES-256-GCM
under a key derived (HKDF-SHA256) from ``KEY_ENCRYPTION_KEY``, with its own
``info`` so a sealed TOTP seed can never be opened as a signing key or the
other way round. The associated data names the row the secret belongs to
(e.g. ``totp:42``): a seed copied onto another user's row fails to open
instead of granting access.

    sealed = b"LTS1" || kek_id (8) || nonce (12) || ciphertext+tag
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_FORMAT = b"LTS1"
_INFO = b"lienthong identity factor-secret v1"
_NONCE_BYTES = 12
_KEK_ID_BYTES = 8


class SealBroken(Exception):
    """The sealed secret was altered, moved to another row, or sealed under another key."""


def _aes_key() -> bytes:
    kek = settings.KEY_ENCRYPTION_KEY
    material = kek.encode() if isinstance(kek, str) else bytes(kek)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)


def seal(secret: bytes, *, bound_to: str) -> bytes:
    key = _aes_key()
    kek_id = hashlib.sha256(key).digest()[:_KEK_ID_BYTES]
    nonce = os.urandom(_NONCE_BYTES)
    header = _FORMAT + kek_id
    return header + nonce + AESGCM(key).encrypt(nonce, secret, header + bound_to.encode())


def unseal(sealed: bytes, *, bound_to: str) -> bytes:
    sealed = bytes(sealed)
    key = _aes_key()
    kek_id = hashlib.sha256(key).digest()[:_KEK_ID_BYTES]
    header = sealed[: len(_FORMAT) + _KEK_ID_BYTES]
    if header != _FORMAT + kek_id:
        raise SealBroken("sealed under another key-encryption key, or not sealed")
    nonce = sealed[len(header) : len(header) + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(
            nonce, sealed[len(header) + _NONCE_BYTES :], header + bound_to.encode()
        )
    except InvalidTag as exc:
        raise SealBroken("the sealed secret was altered or belongs to another row") from exc
