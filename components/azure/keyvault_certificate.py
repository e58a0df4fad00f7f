"""A TLS certificate imported into an Azure Key Vault as a *certificate object*: a Pulumi dynamic resource.

Why not a Key Vault secret holding the PFX: Microsoft asks Front Door Standard/Premium users for the certificate object
("Certificates must be uploaded as a certificate object, rather than a secret",
https://learn.microsoft.com/azure/frontdoor/domain, "Import a certificate to Azure Key Vault"). Azure Resource Manager,
and so azure-native, has no certificate resource (its `keyvault` module has Vault, Secret, Key, AccessPolicy), so this
resource calls Key Vault's data plane with the maintained SDK (`azure-keyvault-certificates`,
`CertificateClient.import_certificate`: "Requires certificates/import permission").

The PFX is built here, not taken from the ACME provider: its `certificate_p12` is PBES2/AES-256 ("Modern2023" in
terraform-provider-acme's `pkcs12.Modern2023.Encode`), which Key Vault has refused on import ("Importing of certificate
encrypted with AES256-SHA256 ... throws error. Hoever 3DES-SHA1 encypted certificates can be imported",
MicrosoftDocs/azure-docs#39861). This one is PBES1 3DES with a SHA-1 MAC, what `openssl pkcs12 -export -legacy` writes,
under a one-time password passed along with it (`import_certificate(password=...)`: "If the private key in the passed
in certificate is encrypted, it is the password used for encryption"; `cryptography` encrypts with none other than a
non-empty one). Key Vault parses the archive and serves the certificate from its own backing secret, which is what
Front Door reads. The PFX and its password live only in the provider's process, never in the state; its salt and
password are random, so the resource diffs on the certificate PEM: one renewal imports one new version.

Each import under an existing name makes a new version of the certificate (and of its backing secret); Front Door,
set to the latest version, follows it. Delete deletes the certificate (soft delete, all versions; no purge, so the
deployer needs no purge right): it runs only when the resource leaves the program without its vault, since the site
declares it `deleted_with` its own vault, whose deletion takes every certificate with it.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from typing import Any, Protocol

import pulumi
import pulumi.dynamic
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.keyvault.certificates import CertificateClient, CertificateContentType, CertificatePolicy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12

__all__ = ["CertificateStore", "KeyVaultCertificate", "KeyVaultCertificateProvider", "key_vault_client", "legacy_pfx"]


class _Properties(Protocol):
    @property
    def version(self) -> str | None: ...


class _Imported(Protocol):
    @property
    def properties(self) -> _Properties | None: ...


def _version(certificate: _Imported) -> str | None:
    return certificate.properties.version if certificate.properties is not None else None


class CertificateStore(Protocol):
    """What the provider calls on a vault: the part of `azure.keyvault.certificates.CertificateClient` it uses."""

    def import_certificate(
        self,
        certificate_name: str,
        certificate_bytes: bytes,
        *,
        password: str | None = None,
        policy: CertificatePolicy | None = None,
    ) -> _Imported: ...

    def get_certificate(self, certificate_name: str) -> _Imported: ...

    def begin_delete_certificate(self, certificate_name: str) -> object: ...


def key_vault_client(vault_url: str) -> CertificateStore:
    """The real client, logged in with `DefaultAzureCredential` (environment, workload identity, managed identity,
    Azure CLI: https://learn.microsoft.com/python/api/azure-identity/azure.identity.defaultazurecredential). It runs
    in the deployer's process, so it must resolve to the identity azure-native deploys with: that identity's object id
    is the one the vault's access policy admits."""
    return CertificateClient(vault_url=vault_url, credential=DefaultAzureCredential())


def legacy_pfx(private_key_pem: str, full_chain_pem: str, password: bytes) -> bytes:
    """The key, the leaf and its issuers as a PKCS#12 archive encrypted under `password` with PBES1 SHA1-3DES and
    MACed with SHA-1: the format Key Vault is known to import (see the module docstring)."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, RSAPrivateKey):
        # Front Door "doesn't support certificates with elliptic curve (EC) cryptography algorithms"
        # (https://learn.microsoft.com/azure/frontdoor/domain, Certificate requirements).
        raise ValueError("private_key_pem: not an RSA key; Front Door takes no elliptic-curve certificate")
    leaf, *issuers = x509.load_pem_x509_certificates(full_chain_pem.encode())
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(password)
    )
    return pkcs12.serialize_key_and_certificates(None, key, leaf, issuers or None, encryption)


_POLICY = CertificatePolicy(
    # Issued outside Key Vault (Let's Encrypt, renewed by `pulumi up`): no issuer for Key Vault to renew with.
    issuer_name="Unknown",
    content_type=CertificateContentType.pkcs12,
    # Front Door reads the certificate through its backing secret, "the addressable secret with the private key";
    # with a non-exportable key "the private key isn't part of the value" (https://learn.microsoft.com/azure/key-vault/certificates/how-to-export-certificate).
    exportable=True,
)


class KeyVaultCertificateProvider(pulumi.dynamic.ResourceProvider):
    """Create, update and delete of `KeyVaultCertificate`, against the store `client` makes for a vault URL.

    Inputs: `vault_url`, `certificate_name`, `certificate_pem` (leaf then issuers), `private_key_pem`. Outputs: the
    same without the key, plus `version` (the version the last import made). The key stays in the inputs only,
    which Pulumi keeps secret in the state as the ACME provider's output it comes from is."""

    serialize_as_secret_always = False  # it captures no secret: the client factory is a module-level function

    def __init__(self, client: Callable[[str], CertificateStore] = key_vault_client) -> None:
        super().__init__()
        self._client = client

    def _import(self, props: dict[str, Any]) -> dict[str, Any]:
        name = str(props["certificate_name"])
        chain = str(props["certificate_pem"])
        password = secrets.token_urlsafe(24)
        pfx = legacy_pfx(str(props["private_key_pem"]), chain, password.encode())
        imported = self._client(str(props["vault_url"])).import_certificate(
            name, pfx, password=password, policy=_POLICY
        )
        return {
            "vault_url": props["vault_url"],
            "certificate_name": name,
            "certificate_pem": chain,
            "version": _version(imported),
        }

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._import(props)
        return pulumi.dynamic.CreateResult(
            f"{outs['vault_url'].rstrip('/')}/certificates/{outs['certificate_name']}", outs
        )

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        """Another vault or name is another certificate (replace); another certificate PEM (a renewal) is a new
        version of the same one (update). The key alone never changes without the certificate."""
        replaces = [key for key in ("vault_url", "certificate_name") if _olds.get(key) != _news.get(key)]
        changed = bool(replaces) or _olds.get("certificate_pem") != _news.get("certificate_pem")
        return pulumi.dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(self._import(_news))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """The certificate's latest version (`pulumi refresh`); gone from the vault, the resource is gone (empty id)."""
        try:
            found = self._client(str(props["vault_url"])).get_certificate(str(props["certificate_name"]))
        except ResourceNotFoundError:
            return pulumi.dynamic.ReadResult("", {})
        return pulumi.dynamic.ReadResult(id_, {**props, "version": _version(found)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Soft-deletes the certificate with all its versions; already gone is done."""
        with contextlib.suppress(ResourceNotFoundError):
            self._client(str(_props["vault_url"])).begin_delete_certificate(str(_props["certificate_name"]))


class KeyVaultCertificate(pulumi.dynamic.Resource, module="bascule-azure", name="KeyVaultCertificate"):
    """A certificate (key + full chain PEM) imported into a Key Vault as a certificate object; see the module."""

    vault_url: pulumi.Output[str]
    certificate_name: pulumi.Output[str]
    version: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        vault_url: pulumi.Input[str],
        certificate_name: pulumi.Input[str],
        certificate_pem: pulumi.Input[str],
        private_key_pem: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
        provider: KeyVaultCertificateProvider | None = None,
    ) -> None:
        props = {
            "vault_url": vault_url,
            "certificate_name": certificate_name,
            "certificate_pem": certificate_pem,
            "private_key_pem": pulumi.Output.secret(private_key_pem),
            "version": None,
        }
        super().__init__(provider or KeyVaultCertificateProvider(), name, props, opts)
