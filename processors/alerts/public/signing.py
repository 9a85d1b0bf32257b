"""XML signatures (xmldsig, enveloped, RSA-SHA256) on public CAP messages, so the feed
can be served over plain HTTP and a reader can still tell a message is the centre's.

The key and certificate are PEM files named by configuration (IOC_CAP_SIGNING_KEY,
IOC_CAP_SIGNING_CERT; default run_dir/cap-signing/{key,cert}.pem). A production
deployment installs its own (the province's certificate); when neither file exists, a
self-signed pair is generated once, under a file lock, both files 0600 through
config.secrets.write_private. Signing is signxml's (no hand-made canonicalisation).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod, XMLSigner, XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from config.secrets import SECRET_FILE_MODE, write_private

CERT_YEARS = 5


class SignatureError(ValueError):
    """A signature that is missing, broken or not by the expected certificate."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_pem: bytes
    cert_pem: bytes


def key_paths(run_dir: Path, key: Path | None, cert: Path | None) -> tuple[Path, Path]:
    folder = run_dir / "cap-signing"
    return key or folder / "key.pem", cert or folder / "cert.pem"


def load_or_create(key_path: Path, cert_path: Path, *, common_name: str) -> SigningKey:
    """The configured pair; generated (self-signed) when neither file exists."""
    if not (key_path.exists() and cert_path.exists()):
        # Under the lock even when one file exists: the process generating the pair writes
        # the key, then the certificate, and one looking in between must wait for it, not
        # report the certificate missing (a 500 on the first warning of a fresh API).
        key_path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(key_path.with_name(key_path.name + ".lock")):
            if not key_path.exists() and not cert_path.exists():  # another process won
                pair = generate(common_name)
                write_private(key_path, pair.key_pem)
                write_private(cert_path, pair.cert_pem)
    if not (key_path.exists() and cert_path.exists()):
        missing = cert_path if key_path.exists() else key_path
        raise FileNotFoundError(f"{missing} is missing: the CAP signing key needs both files")
    return SigningKey(key_path.read_bytes(), cert_path.read_bytes())


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, SECRET_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def generate(common_name: str, *, now: datetime | None = None) -> SigningKey:
    """A fresh RSA-3072 key and a self-signed certificate for it (tests, first start)."""
    now = now or datetime.now(UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * CERT_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(key_pem, cert.public_bytes(serialization.Encoding.PEM))


def _parser() -> etree.XMLParser:
    # Data only: no entities, no network, no DTD.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def sign(xml: bytes, key: SigningKey) -> bytes:
    """`xml` with an enveloped signature appended to its root element."""
    root = etree.fromstring(xml, parser=_parser())
    signer = XMLSigner(
        signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256
    )
    signed = signer.sign(root, key=key.key_pem, cert=key.cert_pem)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def verify(xml: bytes, cert_pem: bytes) -> bytes:
    """The signed content (the CAP alert as the signature covers it) if `xml` carries a
    valid signature by `cert_pem`'s key; SignatureError otherwise."""
    try:
        result = XMLVerifier().verify(xml, x509_cert=cert_pem.decode(), parser=_parser())
    except (InvalidSignature, InvalidInput) as error:
        raise SignatureError(str(error)) from error
    return etree.tostring(result.signed_xml)
