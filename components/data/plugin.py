"""The 'postgres' data standby: its spec models and its rules over a service. No Pulumi here."""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal and gives `region` as a field: safe, the models are frozen)

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bascule.io.escaping import quoted
from bascule.spec.base import DataSpecBase, Model, Role
from bascule.spec.models import ServiceSpec
from bascule.spec.plugins import DataStandby, site_kind

MAX_SOURCE_PREFIX = 24
"""The widest block a database firewall entry may admit: a /24 (256 addresses) is a site's subnet, anything wider is
a provider's whole range, which admits every other tenant of it."""


def _check_cidrs(field: str, cidrs: tuple[str, ...]) -> tuple[str, ...]:
    """Database firewall entries: IPv4 (Flexible Server firewall rules are IPv4 ranges), and no wider than a /24."""
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
    """The publisher: RDS for PostgreSQL in the primary (AWS) site's region, logical replication turned on."""

    kind: Literal["rds"] = "rds"
    engine_version: str = "16"
    instance_class: str = "db.t4g.medium"
    allocated_storage_gb: int = Field(default=50, ge=20, le=65536)
    wal_keep_mb: int = Field(default=10240, ge=1024)
    """`max_slot_wal_keep_size`: WAL a silent subscriber may pin before its slot is invalidated, not the disk full."""
    replication_source_cidrs: tuple[str, ...] = Field(min_length=1)
    """Addresses the standby connects from: its public outbound address with public access, the delegated subnet's
    CIDR with private access (`standby.delegated_subnet_id`)."""
    admin_cidrs: tuple[str, ...] = Field(min_length=1)
    """Addresses the deployer runs `pulumi up` from: its SQL step (roles, databases, publication, subscription)
    connects to both databases, so both admit these."""
    app_cidrs: tuple[str, ...] = ()
    """Addresses the application's sites connect from (their egress): admitted by both databases, since the app
    writes to the standby once it is promoted."""
    vpc_id: str | None = None
    """With private access: the VPC (reached from Azure by the site-to-site VPN) the security group belongs to."""
    db_subnet_group: str | None = None
    """With private access: an existing DB subnet group in `vpc_id` the instance is placed in, not publicly
    accessible."""

    @property
    def major(self) -> int:
        return int(self.engine_version.split(".")[0])

    @field_validator("engine_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+)?", v) or int(v.split(".")[0]) < 13:
            raise ValueError(f"{quoted(v)}: max_slot_wal_keep_size needs PostgreSQL 13 or later (give e.g. '16')")
        return v

    @field_validator("replication_source_cidrs", "admin_cidrs", "app_cidrs")
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

    @property
    def private(self) -> bool:
        return self.db_subnet_group is not None


class AzurePostgresStandbySpec(Model):
    """The subscriber: Azure Database for PostgreSQL Flexible Server in the secondary (Azure) site's location."""

    kind: Literal["azure-flexible"] = "azure-flexible"
    sku: str = Field(default="Standard_D2ds_v5", pattern=r"^[A-Za-z0-9_]{1,64}$")
    """A compute SKU name (letters, digits, underscores: `Standard_B1ms`, `Standard_D2ds_v5`; the list:
    https://learn.microsoft.com/en-us/azure/postgresql/flexible-server/concepts-compute)."""
    tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"] = "GeneralPurpose"
    storage_gb: int = Field(default=64, ge=32, le=32768)
    administrator_login: str = "bascule"
    delegated_subnet_id: str | None = None
    """Private access: the resource id of a subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers. Set only at
    creation (a server cannot move between public and private access)."""
    private_dns_zone_id: str | None = None
    """Private access: the resource id of the private DNS zone (`*.postgres.database.azure.com`) linked to the VNet."""

    @property
    def private(self) -> bool:
        return self.delegated_subnet_id is not None


_TABLE = re.compile(r"[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*")
_DATABASE = re.compile(r"[a-z_][a-z0-9_$]{0,54}")
"""A database name: an unquoted lowercase identifier (as `tables` are) of at most 55 characters, so that its
publication `bascule_<database>` (components/data/standby.py) still fits PostgreSQL's 63 bytes (NAMEDATALEN - 1;
https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-IDENTIFIERS)."""


class DataSpec(DataSpecBase):
    """A data standby: the primary's PostgreSQL published table by table to a standby at the EU provider."""

    kind: Literal["postgres"] = "postgres"
    primary: RdsPostgresSpec
    standby: AzurePostgresStandbySpec
    databases: tuple[str, ...] = Field(min_length=1)
    tables: tuple[str, ...] = ()
    """Tables to publish (schema.table, unquoted lowercase names); empty publishes every table of each database. They
    must exist on the primary before the publication is created. The service's `rpo_seconds` is the data loss a data
    drill may observe."""

    @field_validator("databases")
    @classmethod
    def _databases(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for database in v:
            if not _DATABASE.fullmatch(database):
                raise ValueError(f"databases: {quoted(database)} is not a database name (unquoted lowercase, at "
                                 "most 55 characters, e.g. checkout)")  # fmt: skip
        return v

    @field_validator("tables")
    @classmethod
    def _tables(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for table in v:
            if not _TABLE.fullmatch(table):
                raise ValueError(
                    f"tables: {quoted(table)} is not schema.table (unquoted lowercase, e.g. public.orders)"
                )
        return v

    @model_validator(mode="after")
    def _network(self) -> DataSpec:
        """Private access needs both ends private: the standby's VNet reaches RDS's VPC only over the VPN."""
        p, s = self.primary, self.standby
        if (s.delegated_subnet_id is None) != (s.private_dns_zone_id is None):
            raise ValueError("standby: private access needs both delegated_subnet_id and private_dns_zone_id")
        if (p.vpc_id is None) != (p.db_subnet_group is None):
            raise ValueError("primary: private access needs both vpc_id and db_subnet_group")
        if p.private != s.private:
            raise ValueError(
                "data: private access is both ends or neither (primary.db_subnet_group with standby.delegated_subnet_id"
                "): the standby reaches a private RDS only from its VNet over the site-to-site VPN"
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
