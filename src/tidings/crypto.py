"""Sealing of secrets at rest (app identity secrets, provider credentials)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Authenticated encryption keyed by the deployment's secret key."""

    def __init__(self, secret_key: str) -> None:
        raw = hashlib.sha256(b"tidings-secretbox-v1:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("sealed secret does not match this deployment's secret key") from exc
