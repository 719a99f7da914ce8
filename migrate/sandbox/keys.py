"""Service-account keys the sandbox issues at start-up.

The org description declares keys by label ("a JSON key of service account X, label k1"); the
sandbox generates a real RSA key pair for each, so that the GitLab emulator can hold the JSON key
file in a CI/CD variable and the Google emulator can verify JWTs signed with it (key-based
sign-in). Like Google, it also issues a self-signed X.509 certificate for the public half: IAM
`keys.get?publicKeyType=TYPE_X509_PEM_FILE` serves it base64-encoded as `publicKeyData`
(https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys#ServiceAccountKey),
which is what wif-migrate compares a key file's private key against. Key ids are derived from the seed so runs with the same seed show the same ids; the
private key material itself is random and lives only in memory.

RSA generation costs ~50 ms per key; large generated orgs reuse a small pool of keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class IssuedKey:
    """A user-managed key. `private_pem` is sandbox-only material (never logged or served raw)."""

    label: str
    service_account: str  # e-mail
    project_id: str
    key_id: str  # 40 hex; equals the JSON file's private_key_id and the last segment of `name`
    private_pem: str
    public_pem: str
    certificate_pem: str = ""  # self-signed X.509 of the public key, as Google serves it

    def key_file(self, token_uri: str = "https://oauth2.googleapis.com/token") -> dict[str, Any]:
        """The JSON key file exactly as `keys.create` (TYPE_GOOGLE_CREDENTIALS_FILE) returns it."""
        client_id = str(int(hashlib.sha256(self.service_account.encode()).hexdigest()[:15], 16))
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.key_id,
            "private_key": self.private_pem,
            "client_email": self.service_account,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
            + self.service_account.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }

    def key_file_json(self, token_uri: str = "https://oauth2.googleapis.com/token") -> str:
        return json.dumps(self.key_file(token_uri), indent=2)

    def key_file_base64(self, token_uri: str = "https://oauth2.googleapis.com/token") -> str:
        return base64.b64encode(self.key_file_json(token_uri).encode()).decode()


# A key id stands for one key pair, as at Google: sandboxes started with the same seed in one
# process (a test restarting its sandbox) reuse the pair, so a scan's key fingerprints stay true.
_PROCESS_KEYS: dict[tuple[int, str, str], IssuedKey] = {}


class KeyStore:
    """All keys issued by one sandbox, by (service account, label) and by key id."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._by_label: dict[tuple[str, str], IssuedKey] = {}
        self._by_id: dict[str, IssuedKey] = {}
        self._lock = threading.Lock()

    def issue(self, service_account: str, label: str, project_id: str | None = None) -> IssuedKey:
        """Return the key for (service account, label), generating it on first use."""
        sa = service_account.lower()
        with self._lock:
            existing = self._by_label.get((sa, label))
            if existing is not None:
                return existing
            key_id = hashlib.sha1(f"{self.seed}:{sa}:{label}".encode()).hexdigest()
            cached = _PROCESS_KEYS.get((self.seed, sa, label))
            if cached is not None:  # the same seed in the same process: the same key pair
                self._by_label[(sa, label)] = cached
                self._by_id[key_id] = cached
                return cached
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public_pem = private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            issued = IssuedKey(
                label=label,
                service_account=sa,
                project_id=project_id or _project_of(sa),
                key_id=key_id,
                private_pem=private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode(),
                public_pem=public_pem,
                certificate_pem=certificate(private, sa, key_id),
            )
            self._by_label[(sa, label)] = issued
            self._by_id[key_id] = issued
            _PROCESS_KEYS[(self.seed, sa, label)] = issued
            return issued

    def by_id(self, key_id: str) -> IssuedKey | None:
        return self._by_id.get(key_id)

    def all(self) -> list[IssuedKey]:
        return list(self._by_id.values())


def certificate(private: rsa.RSAPrivateKey, service_account: str, key_id: str) -> str:
    """A self-signed certificate of the key's public half (Google's are self-signed too, subject
    and issuer naming the key's service account; validity ten years)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service_account)])
    start = datetime(2020, 1, 1, tzinfo=UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(int(key_id[:30] or "1", 16) or 1)
            .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
            .sign(private, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _project_of(service_account: str) -> str:
    """`name@PROJECT.iam.gserviceaccount.com` → PROJECT ('' for other domains)."""
    domain = service_account.split("@", 1)[-1]
    suffix = ".iam.gserviceaccount.com"
    return domain[: -len(suffix)] if domain.endswith(suffix) else ""
