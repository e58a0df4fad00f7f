"""The 'postgres' data standby: its spec models and its rules over a service. No Pulumi here."""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal and gives `region` as a field: safe, the models are frozen)

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bascule.facts import Cloud
from bascule.io.escaping import quoted
from bascule.spec.base import DataSpecBase, Image, Model, Role, check_region
from bascule.spec.models import ServiceSpec
from bascule.spec.plugins import DataStandby, site_kind

MAX_SOURCE_PREFIX = 24
"""The widest block a database firewall entry may admit: a /24 (256 addresses) is a site's subnet, anything wider is
a provider's whole range, which admits every other tenant of it."""
MAX_VNET_PREFIX = 23
"""The standby's virtual network holds a /24 for the site's Container Apps environment and, in the next /24, a /27
for the sync job's environment and a /28 for the database (`standby_subnets`)."""
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,47}")
"""An unquoted lowercase PostgreSQL name short enough that `bascule_<name>` (publication, subscription, slot) stays
within NAMEDATALEN (63 bytes)."""
_RESERVED_DATABASES = frozenset({"postgres", "template0", "template1", "rdsadmin", "azure_maintenance", "azure_sys"})
"""Databases the engines or the providers already hold: RDS's `rdsadmin`, Flexible Server's `azure_*`."""


def _check_cidrs(field: str, cidrs: tuple[str, ...]) -> tuple[str, ...]:
    """Database firewall entries: IPv4, and no wider than a /24."""
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(f"{field}: {quoted(cidr)} is not an IPv4 address or CIDR block") from None
        if network.version != 4:
            raise ValueError(f"{field}: {quoted(cidr)} is IPv6; database firewall rules here are IPv4")
        if network.prefixlen == 0:
            raise ValueError(f"{field}: {quoted(cidr)} opens the database to the whole internet; list the addresses")
        if network.prefixlen < MAX_SOURCE_PREFIX:
            raise ValueError(
                f"{field}: {quoted(cidr)} admits {network.num_addresses} addresses; list blocks of "
                f"/{MAX_SOURCE_PREFIX} or narrower"
            )
    return cidrs


class RdsPostgresSpec(Model):
    """The publisher: RDS for PostgreSQL in the primary (AWS) site's VPC, logical replication turned on."""

    kind: Literal["rds"] = "rds"
    engine_version: str = "16"
    instance_class: str = "db.t4g.medium"
    allocated_storage_gb: int = Field(default=50, ge=20, le=65536)
    wal_keep_mb: int = Field(default=10240, ge=1024)
    """`max_slot_wal_keep_size`: WAL a silent subscriber may pin before its slot is invalidated, not the disk full."""
    admin_cidrs: tuple[str, ...] = Field(min_length=1)
    """Where `pulumi up` runs: its SQL step (roles, databases, publications) connects to RDS from there."""
    db_subnet_group: str | None = None
    """The private path: an existing DB subnet group in the primary site's VPC, which the site is then given as its
    `network` (spec or program; a VPC Bascule builds could hold no subnet group made before it, and the component
    refuses the pair). RDS is then not publicly accessible and the standby reaches it over the team's AWS-Azure
    VPN, from its database subnet (`standby_subnets`). Without
    it RDS is publicly accessible in the site's public subnets and admits the standby's fixed egress address only
    (plus `admin_cidrs` and the site's tasks)."""

    @property
    def major(self) -> int:
        return int(self.engine_version.split(".")[0])

    @property
    def private(self) -> bool:
        return self.db_subnet_group is not None

    @field_validator("engine_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+)?", v) or int(v.split(".")[0]) < 13:
            raise ValueError(f"{quoted(v)}: max_slot_wal_keep_size needs PostgreSQL 13 or later (give e.g. '16')")
        return v

    @field_validator("admin_cidrs")
    @classmethod
    def _cidrs(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return _check_cidrs(str(info.field_name), v)

    @model_validator(mode="after")
    def _storage(self) -> RdsPostgresSpec:
        """A slot may pin `wal_keep_mb` of WAL before it is invalidated; below half the disk, the rest stays free for
        the data and its own WAL."""
        if self.wal_keep_mb * 2 > self.allocated_storage_gb * 1024:
            raise ValueError(
                f"wal_keep_mb: {self.wal_keep_mb} MB is over half of allocated_storage_gb ({self.allocated_storage_gb} "
                "GB); a silent standby could fill the disk before its slot is invalidated"
            )
        return self


class AzurePostgresStandbySpec(Model):
    """The subscriber: Azure Database for PostgreSQL Flexible Server in a virtual network of its own, in the
    secondary (Azure) site's location; the site's Container Apps environment joins that network."""

    kind: Literal["azure-flexible"] = "azure-flexible"
    sku: str = Field(default="Standard_D2ds_v5", pattern=r"^[A-Za-z0-9_]{1,64}$")
    """A compute SKU name (letters, digits, underscores: `Standard_B1ms`, `Standard_D2ds_v5`; the list:
    https://learn.microsoft.com/en-us/azure/postgresql/flexible-server/concepts-compute)."""
    tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"] = "GeneralPurpose"
    storage_gb: int = Field(default=64, ge=32, le=32768)
    administrator_login: str = "bascule"
    vnet_cidr: str = "10.92.0.0/22"
    """The standby's virtual network (private IPv4, /23 or wider), cut into `standby_subnets`. With the private path
    (`primary.db_subnet_group`) it must not overlap the AWS VPC the VPN joins it to: the team's VPC, whose block
    Bascule does not know, so this is the team's to keep apart."""
    sync_image: str | None = None
    """The image the sync job runs: any with `sh`, `psql` and `pg_dump` of the primary's major version or later
    (default: the official `postgres:<major>-alpine` from Amazon ECR Public, `standby.SYNC_IMAGE`)."""

    @field_validator("vnet_cidr")
    @classmethod
    def _vnet(cls, v: str) -> str:
        try:
            network = ipaddress.ip_network(v)
        except ValueError:
            raise ValueError(f"{quoted(v)} is not an IPv4 CIDR block (network address, e.g. 10.92.0.0/22)") from None
        if network.version != 4 or not network.is_private:
            raise ValueError(f"{quoted(v)} is not a private IPv4 block (RFC 1918, e.g. 10.92.0.0/22)")
        if network.prefixlen > MAX_VNET_PREFIX:
            raise ValueError(f"{quoted(v)} is too small: the standby's subnets need a /{MAX_VNET_PREFIX} or wider")
        return v

    @field_validator("administrator_login")
    @classmethod
    def _login(cls, v: str) -> str:
        if not _IDENTIFIER.fullmatch(v) or v.startswith(("pg_", "azure_")) or v in ("admin", "root", "postgres"):
            raise ValueError(
                f"{quoted(v)} is not a login Flexible Server accepts here (lowercase, not pg_/azure_/admin)"
            )
        return v


BACKUP_PROVIDERS = {"scaleway": Cloud.SCALEWAY}
"""Where `data.backup` can keep its dumps: an S3-compatible object store whose Pulumi SDK creates a bucket with object
lock. Scaleway's does (`scaleway.object.Bucket(object_lock_enabled=True)` plus `BucketLockConfiguration`). Not
offered: Hetzner Object Storage, which neither the hcloud Terraform provider nor pulumi-hcloud can create
(hetznercloud/terraform-provider-hcloud#1005, pulumi/pulumi-hcloud#850, both open); OVHcloud, whose provider gained
object lock at bucket creation (ovh/terraform-provider-ovh#1186, fixed by #1211; `ovh.CloudStorageObjectBucket`'s
`object_lock` in pulumi-ovh 2.22) but whose SDK Bascule does not install or test yet."""
BACKUP_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)
"""`every_hours`: a divisor of 24, so the job's cron schedule (`0 */N * * *`, UTC) runs at even intervals all day."""
MAX_RETENTION_DAYS = 3650
"""Ten years: object lock in COMPLIANCE mode cannot be shortened or lifted by anyone, so a typo here is paid for in
storage until it runs out (https://www.scaleway.com/en/docs/object-storage/api-cli/object-lock/)."""
_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
"""S3's bucket naming rules, the part every S3-compatible store shares: 3 to 63 lowercase letters, digits and
hyphens, starting and ending with a letter or digit (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html);
no dots, which break TLS on virtual-hosted-style names. Scaleway publishes no stricter rule that could be found."""
_PRINCIPAL = re.compile(r"(user_id|application_id):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""A bucket policy's principal: "You must use `user_id` and/or `application_id`" (the IAM IDs are UUIDs):
https://www.scaleway.com/en/docs/object-storage/api-cli/bucket-policy/ (Principal)."""
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
"""The bech32 data alphabet (BIP 173)."""


def _bech32_polymod(values: list[int]) -> int:
    """BIP 173's checksum: https://github.com/bitcoin/bips/blob/master/bip-0173.mediawiki#checksum"""
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check


def age_recipient_ok(value: str) -> bool:
    """Whether `value` is an age X25519 recipient: Bech32 with the human-readable part `age`, lowercase, holding a
    32-byte public key (the age spec, "X25519 recipient type": https://c2sp.org/age). The checksum catches a
    mistyped or truncated key, to which backups would be encrypted that nobody can read."""
    hrp, sep, data = value.rpartition("1")
    if hrp != "age" or not sep or len(data) < 6 or any(c not in _BECH32 for c in data):
        return False
    values = [_BECH32.index(c) for c in data]
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    if _bech32_polymod(expanded + values) != 1:
        return False
    payload = values[:-6]  # 5-bit groups; 32 bytes are 52 groups, the last with 4 bits of padding that must be 0
    return len(payload) == 52 and payload[-1] & 0b1111 == 0


class BackupSpec(Model):
    """Logical dumps of the service's databases, taken from the standby by a scheduled job beside it, encrypted to
    the team's age key and kept under object lock at a provider other than the primary's (docs/data.md, Backups)."""

    provider: Literal["scaleway"] = "scaleway"
    """The object store's provider (`BACKUP_PROVIDERS` says why only Scaleway)."""
    region: str
    """An Object Storage region of the provider (Scaleway: fr-par, nl-ams, pl-waw)."""
    every_hours: int = 24
    """Hours between backups, a divisor of 24: with a daily dump, up to a day of writes is lost (the RPO of a
    restore), which is why the standby, not the backup, is the answer to an outage."""
    retention_days: int = Field(default=30, ge=2, le=MAX_RETENTION_DAYS)
    """Days each backup stays locked (COMPLIANCE: nobody can delete or overwrite it) and then expires. At least 2,
    so a backup expires only after the next one is taken."""
    recipient: str
    """The age public key (`age1...`) dumps are encrypted to; its private key stays with the team, off every cloud."""
    image: Image
    """The team's build of deploy/backup/Dockerfile (`bascule backup take` with pg_dump)."""
    keep_access: tuple[str, ...] = Field(min_length=1)
    """The Scaleway users and applications (`user_id:<uuid>`, `application_id:<uuid>`) whose IAM rights on the bucket
    stay in force under its bucket policy, which refuses everyone it does not list: the identity Pulumi deploys with
    (else the next `up` or refresh is refused on the bucket) and whoever lists, verifies or restores backups.
    Required, because a program cannot tell who deploys it: the key may come from the environment, the stack's
    config or an explicit `backup_provider`, none of which it can read (docs/data.md, Backups)."""
    bucket: str | None = None
    """The bucket's name (globally unique at the provider); default `bascule-<service>-backups-<8 hex>`."""

    @property
    def cloud(self) -> Cloud:
        return BACKUP_PROVIDERS[self.provider]

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        return check_region(Cloud.SCALEWAY, v)

    @field_validator("every_hours")
    @classmethod
    def _every(cls, v: int) -> int:
        if v not in BACKUP_HOURS:
            raise ValueError(f"{v} is not a divisor of 24 ({', '.join(map(str, BACKUP_HOURS))}): the schedule runs "
                             "at even intervals each day")  # fmt: skip
        return v

    @field_validator("recipient")
    @classmethod
    def _recipient(cls, v: str) -> str:
        if not age_recipient_ok(v):
            raise ValueError(f"{quoted(v[:80])} is not an age public key (age1 followed by 58 bech32 characters, as "
                             "age-keygen -y prints it)")  # fmt: skip
        return v

    @field_validator("keep_access")
    @classmethod
    def _keep_access(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for principal in v:
            if not _PRINCIPAL.fullmatch(principal):
                raise ValueError(f"{quoted(principal[:80])} is not a bucket policy principal (user_id:<uuid> or "
                                 "application_id:<uuid>, as the IAM console shows them)")  # fmt: skip
        if len(set(v)) != len(v):
            raise ValueError("a principal is listed twice")
        return v

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is not None and not _BUCKET.fullmatch(v):
            raise ValueError(f"{quoted(v)} is not a bucket name here (3 to 63 lowercase letters, digits and hyphens, "
                             "starting and ending with a letter or digit)")  # fmt: skip
        return v


def standby_subnets(vnet_cidr: str) -> dict[str, str]:
    """The standby's virtual network cut in three: `apps` (a /24 for the secondary site's Container Apps
    environment), `jobs` (a /27 for the sync job's environment) and `postgres` (a /28 delegated to the Flexible
    Server). Container Apps workload-profile environments need a /27 or larger, a delegated Flexible Server subnet a
    /28 or larger: https://learn.microsoft.com/azure/container-apps/networking and
    https://learn.microsoft.com/azure/postgresql/network/concepts-networking-private"""
    vnet = ipaddress.IPv4Network(vnet_cidr)
    apps, rest = list(vnet.subnets(new_prefix=24))[:2]
    jobs = next(rest.subnets(new_prefix=27))
    postgres = list(rest.subnets(new_prefix=28))[2]  # the /28 right after `jobs`
    return {"apps": str(apps), "jobs": str(jobs), "postgres": str(postgres)}


class DataSpec(DataSpecBase):
    """A data standby: the primary's PostgreSQL published, every table, to a standby at the EU provider."""

    kind: Literal["postgres"] = "postgres"
    primary: RdsPostgresSpec
    standby: AzurePostgresStandbySpec
    databases: tuple[str, ...] = Field(min_length=1)
    """Each is created on both sides and published FOR ALL TABLES, so tables the application's migrations add later
    are published without a change here (the standby's sync job picks them up: docs/deploy.md)."""
    app_role: str = "app"
    """The login each site's application uses, on the database beside it; it owns the tables its migrations make."""
    backup: BackupSpec | None = None
    """Backups of the databases at a provider other than the primary's: replication copies a DROP TABLE within
    seconds, a backup taken before it does not."""

    @field_validator("databases")
    @classmethod
    def _databases(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            if not _IDENTIFIER.fullmatch(name) or name in _RESERVED_DATABASES or name.startswith("pg_"):
                raise ValueError(f"databases: {quoted(name)} is not a database name here (unquoted lowercase, at most "
                                 "48 characters, not postgres/template*/rdsadmin/azure_*)")  # fmt: skip
        if len(set(v)) != len(v):
            raise ValueError("databases: a database is listed twice")
        return v

    @field_validator("app_role")
    @classmethod
    def _app_role(cls, v: str) -> str:
        if not _IDENTIFIER.fullmatch(v) or v.startswith(("pg_", "rds_", "azure_")):
            raise ValueError(f"app_role: {quoted(v)} is not a role name here (unquoted lowercase, not pg_/rds_/azure_)")
        return v

    @model_validator(mode="after")
    def _logins(self) -> DataSpec:
        """Four logins, four names: the RDS master and the replicator are Bascule's, the administrator the standby's."""
        taken = {self.standby.administrator_login: "standby.administrator_login", "bascule": "the RDS master user",
                 "bascule_replicator": "the replication login"}  # fmt: skip
        if self.app_role in taken:
            raise ValueError(
                f"app_role: {quoted(self.app_role)} is already {taken[self.app_role]}; give the app its own"
            )
        return self


def _beside_its_sites(service: ServiceSpec) -> None:
    """Each database sits beside its site: the published one beside the primary, the standby beside the secondary,
    so both move together. The site kinds say which end they can hold (`SiteKind.data_end`)."""
    if site_kind(service.primary.kind).data_end is not Role.PRIMARY:
        raise ValueError(
            f"data.primary.kind: 'rds' runs on AWS, but the primary site is on {service.primary.cloud.value}; the "
            "primary database sits in the primary site's region"
        )
    backup = service.data.backup if isinstance(service.data, DataSpec) else None
    if backup is not None and backup.cloud is service.primary.cloud:
        raise ValueError(
            f"data.backup.provider: {quoted(backup.provider)} is the primary's cloud; backups must survive losing it"
        )
    if site_kind(service.secondary.kind).data_end is not Role.SECONDARY:
        raise ValueError(
            f"data.standby.kind: 'azure-flexible' runs on Azure, but the secondary site is on "
            f"{service.secondary.cloud.value}; the standby sits beside the secondary so both move together"
        )


POSTGRES = DataStandby(
    kind="postgres",
    spec=DataSpec,
    component="bascule.components.data.standby:PostgresStandby",
    extra="data",
    check=_beside_its_sites,
)
