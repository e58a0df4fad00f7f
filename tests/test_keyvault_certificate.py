"""The Key Vault certificate dynamic provider run for real against an in-memory vault: the PFX it imports (3DES,
SHA-1 MAC, key + leaf + issuer), a version per import, diff on the PEM only, delete and read."""

from __future__ import annotations

import base64
import datetime
import shutil
import subprocess
from dataclasses import dataclass, field

import dill  # type: ignore[import-untyped]  # what Pulumi pickles dynamic providers with
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.certificates import CertificateContentType, CertificatePolicy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pulumi.dynamic.dynamic import serialize_provider

from bascule.components.azure.keyvault_certificate import KeyVaultCertificateProvider, key_vault_client, legacy_pfx

VAULT = "https://kv-site.vault.azure.net/"


@dataclass(frozen=True)
class _Props:
    version: str | None


@dataclass(frozen=True)
class _Cert:
    properties: _Props


@dataclass
class FakeVault:
    """Certificates by name, each a list of (PFX bytes, password, policy) versions; `deleted` names soft-deleted ones."""

    url: str
    certificates: dict[str, list[tuple[bytes, str | None, CertificatePolicy | None]]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)

    def import_certificate(
        self,
        certificate_name: str,
        certificate_bytes: bytes,
        *,
        password: str | None = None,
        policy: CertificatePolicy | None = None,
    ) -> _Cert:
        if certificate_name in self.deleted:
            raise AssertionError("a soft-deleted name is refused for the retention period")
        versions = self.certificates.setdefault(certificate_name, [])
        versions.append((certificate_bytes, password, policy))
        return _Cert(_Props(f"v{len(versions)}"))

    def get_certificate(self, certificate_name: str) -> _Cert:
        if certificate_name not in self.certificates:
            raise ResourceNotFoundError("not found")
        return _Cert(_Props(f"v{len(self.certificates[certificate_name])}"))

    def begin_delete_certificate(self, certificate_name: str) -> object:
        if self.certificates.pop(certificate_name, None) is None:
            raise ResourceNotFoundError("not found")
        self.deleted.append(certificate_name)
        return object()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, serial: int) -> tuple[str, str, x509.Certificate]:
    """A leaf for `key` signed by a fresh issuer: (key PEM, leaf + issuer PEM, leaf)."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, public: object, signer: rsa.RSAPrivateKey, number: int) -> x509.Certificate:
        return (
            x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name("Test CA"))
            .public_key(public).serial_number(number)  # type: ignore[arg-type]
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=90))
            .sign(signer, hashes.SHA256())
        )  # fmt: skip

    ca = cert("Test CA", ca_key.public_key(), ca_key, 1)
    leaf = cert("checkout.shop.example.eu", key.public_key(), ca_key, serial)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca)).decode()
    return key_pem, chain, leaf


@pytest.fixture(scope="module")
def issued() -> tuple[str, str, x509.Certificate]:
    return _issue(rsa.generate_private_key(public_exponent=65537, key_size=2048), 2)


def _props(key_pem: str, chain: str, name: str = "checkout-secondary") -> dict[str, object]:
    return {"vault_url": VAULT, "certificate_name": name, "certificate_pem": chain, "private_key_pem": key_pem}


def test_the_pfx_is_3des_with_a_sha1_mac_and_holds_key_leaf_and_issuer(
    issued: tuple[str, str, x509.Certificate],
) -> None:
    key_pem, chain, leaf = issued
    pfx = legacy_pfx(key_pem, chain, b"one-time")
    loaded = pkcs12.load_pkcs12(pfx, b"one-time")
    assert loaded.cert is not None and loaded.cert.certificate == leaf
    assert [c.certificate.subject for c in loaded.additional_certs] == [_name("Test CA")]
    assert loaded.key is not None
    pkcs8 = (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert loaded.key.private_bytes(*pkcs8).decode() == key_pem
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: the algorithms are read with it")
    info = subprocess.run([openssl, "pkcs12", "-info", "-nokeys", "-nocerts", "-passin", "pass:one-time"],
                          input=pfx, capture_output=True, check=True).stderr.decode()  # fmt: skip
    assert "MAC: sha1" in info
    assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert "AES" not in info and "PBES2" not in info


def test_an_ec_key_is_refused_by_name() -> None:
    key_pem, chain, _ = _issue(ec.generate_private_key(ec.SECP256R1()), 3)
    with pytest.raises(ValueError, match="private_key_pem: not an RSA key"):
        legacy_pfx(key_pem, chain, b"one-time")


def test_create_renew_read_and_delete_against_a_vault(issued: tuple[str, str, x509.Certificate]) -> None:
    vaults: dict[str, FakeVault] = {}

    def client(url: str) -> FakeVault:
        return vaults.setdefault(url, FakeVault(url))

    provider = KeyVaultCertificateProvider(client)
    key_pem, chain, leaf = issued
    created = provider.create(_props(key_pem, chain))
    assert created.id == "https://kv-site.vault.azure.net/certificates/checkout-secondary"
    assert created.outs == {
        "vault_url": VAULT,
        "certificate_name": "checkout-secondary",
        "certificate_pem": chain,
        "version": "v1",
    }  # fmt: skip  (no private key in the outputs)
    ((pfx, password, policy),) = vaults[VAULT].certificates["checkout-secondary"]
    assert password  # the PFX's one-time password goes with it
    assert pkcs12.load_pkcs12(pfx, password.encode()).cert.certificate == leaf  # type: ignore[union-attr]
    assert policy is not None and policy.content_type == CertificateContentType.pkcs12
    assert (policy.exportable, policy.issuer_name) == (True, "Unknown")

    olds = created.outs
    assert olds is not None
    # Same certificate, a new PFX salt would differ, yet no change: the diff reads the PEM only.
    assert not provider.diff(created.id, olds, _props(key_pem, chain)).changes
    renewed_key, renewed_chain, _ = _issue(rsa.generate_private_key(public_exponent=65537, key_size=2048), 4)
    diff = provider.diff(created.id, olds, _props(renewed_key, renewed_chain))
    assert (diff.changes, diff.replaces) == (True, [])
    updated = provider.update(created.id, olds, _props(renewed_key, renewed_chain))
    assert updated.outs is not None and updated.outs["version"] == "v2"
    assert len(vaults[VAULT].certificates["checkout-secondary"]) == 2  # a new version of the same certificate
    moved = provider.diff(created.id, olds, _props(key_pem, chain, name="other"))
    assert (moved.changes, moved.replaces) == (True, ["certificate_name"])

    assert provider.read(created.id, updated.outs).outs == {**updated.outs, "version": "v2"}
    provider.delete(created.id, updated.outs)
    assert vaults[VAULT].deleted == ["checkout-secondary"] and not vaults[VAULT].certificates
    assert provider.read(created.id, updated.outs).id == ""  # gone from the vault: gone from the state on refresh
    provider.delete(created.id, updated.outs)  # already gone is done


def test_the_provider_survives_pulumis_serialization() -> None:
    """Pulumi pickles the provider into the state (`__provider`) and runs it from there: the real client factory goes
    by reference, so the provider process imports it."""
    restored = dill.loads(base64.b64decode(serialize_provider(KeyVaultCertificateProvider())))
    assert isinstance(restored, KeyVaultCertificateProvider) and restored._client is key_vault_client
