"""PostgresStandby: a service's PostgreSQL published from RDS (beside the AWS primary) to a warm standby on Azure
Database for PostgreSQL Flexible Server (beside the Azure secondary), by native logical replication.

Why Flexible Server: it documents native logical replication (publication/subscription) and pglogical on the server
itself, with the settings a subscriber needs (`max_worker_processes` at least 16), so the standby is a plain
subscription we create and drop; Cloud SQL reaches the same only through Database Migration Service jobs, whose
promotion is an API call taking minutes. Source:
https://learn.microsoft.com/en-us/azure/postgresql/flexible-server/concepts-logical

Logical replication carries neither DDL nor sequence values: the application's migrations must run on both sides,
and promotion must advance each sequence past the max of the columns using it (the sandbox drill proves the
failure without it).
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure
import pulumi_command as command
import pulumi_postgresql as postgresql
import pulumi_random as random

from bascule.components.aws.plugin import AwsSiteSpec
from bascule.components.azure.plugin import AzureSiteSpec
from bascule.components.base import bascule_tags
from bascule.components.data.plugin import DataSpec
from bascule.spec import Role, ServiceSpec

PORT = 5432
USER = "bascule"
"""The RDS master user: the deployer's SQL step connects as it (roles, databases, the publication)."""
REPLICATOR = "bascule_replicator"
"""The login the standby replicates as: rds_replication plus CONNECT and SELECT, nothing of the master's rights."""
SUBSCRIBER_WORKERS = "16"
"""Flexible Server's documented minimum `max_worker_processes` for logical replication (concepts-logical, above)."""
BACKUP_RETENTION_DAYS = 7
"""The replica is not a backup (a DELETE replicates): RDS keeps a week of point-in-time recovery beside it."""


def _password(name: str, opts: pulumi.ResourceOptions) -> random.RandomPassword:
    """A generated secret of letters and digits with each class present: Flexible Server's administrator password
    needs characters from three of the four classes (upper, lower, digits, symbols), and RDS refuses some symbols
    (/, @, ", space), so none are used. https://learn.microsoft.com/en-us/azure/postgresql/flexible-server/quickstart-create-server
    """
    return random.RandomPassword(
        name, length=32, special=False, min_upper=1, min_lower=1, min_numeric=1, opts=opts
    )  # fmt: skip


def _firewall_range(cidr: str) -> tuple[str, str]:
    """A CIDR block as the first and last address of a Flexible Server firewall rule (IPv4 start/end, no CIDR)."""
    network = ipaddress.ip_network(cidr, strict=False)
    return str(network[0]), str(network[-1])


class PostgresStandby(pulumi.ComponentResource):
    def __init__(self, name: str, service: ServiceSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:data:PostgresStandby", name, None, opts)
        data, primary, secondary = service.data, service.primary, service.secondary
        if (
            not isinstance(data, DataSpec)
            or not isinstance(primary, AwsSiteSpec)
            or not isinstance(secondary, AzureSiteSpec)
        ):
            raise TypeError("PostgresStandby needs a service with `data`, an 'aws' primary and an 'azure' secondary")
        parent = pulumi.ResourceOptions(parent=self)
        # Three secrets, one per login: RDS master, the replication login, the Flexible Server administrator.
        master_password = _password(f"{name}-password", parent)
        replicator_password = _password(f"{name}-replicator-password", parent)
        admin_password = _password(f"{name}-standby-password", parent)

        aws_provider = aws.Provider(f"{name}-aws", region=primary.region, opts=parent)
        on_aws = pulumi.ResourceOptions(parent=self, provider=aws_provider)
        aws_tags = bascule_tags(service, Role.PRIMARY)
        params = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{data.primary.major}",
            description=f"Bascule: logical replication of {service.name} to its EU standby",
            parameters=[
                # Static: takes effect after a reboot, then wal_level is logical.
                # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.FeatureSupport.LogicalReplication.html
                aws.rds.ParameterGroupParameterArgs(name="rds.logical_replication", value="1",
                                                    apply_method="pending-reboot"),
                # A subscriber gone silent pins WAL until the disk fills; past this many MB its slot is invalidated
                # instead (reloadable, so applied at once): https://www.postgresql.org/docs/15/runtime-config-replication.html
                aws.rds.ParameterGroupParameterArgs(name="max_slot_wal_keep_size", value=str(data.primary.wal_keep_mb),
                                                    apply_method="immediate"),
                # TLS only (the default from PostgreSQL 15 on RDS, set here for older majors too), applied at once
                # rather than at the next reboot: a dynamic parameter (not re-read from here; if RDS had it static,
                # the API refuses `immediate` and `pulumi up` fails loudly rather than leaving TLS off):
                # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1", apply_method="immediate"),
            ],
            tags=aws_tags,
            opts=on_aws,
        )  # fmt: skip
        # Port 5432 from three kinds of address, nothing else: the standby (replication), the deployer (the SQL step
        # below connects from where `pulumi up` runs) and the application's sites. Inline rules only: the AWS
        # provider documents that mixing inline ingress with separate rule resources makes them fight.
        # https://www.pulumi.com/registry/packages/aws/api-docs/ec2/securitygroup/
        sources = (
            ("standby replication", data.primary.replication_source_cidrs),
            ("deployer (pulumi up)", data.primary.admin_cidrs),
            ("application", data.primary.app_cidrs),
        )
        firewall = aws.ec2.SecurityGroup(
            f"{name}-replication",
            description=f"Bascule: {service.name} database: standby, deployer and application only",
            vpc_id=data.primary.vpc_id,
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=PORT, to_port=PORT,
                                                      cidr_blocks=list(cidrs), description=what)
                     for what, cidrs in sources if cidrs],
            tags=aws_tags,
            opts=on_aws,
        )  # fmt: skip
        self.primary = aws.rds.Instance(
            f"{name}-primary",
            engine="postgres",
            engine_version=data.primary.engine_version,
            instance_class=data.primary.instance_class,
            allocated_storage=data.primary.allocated_storage_gb,
            storage_encrypted=True,
            parameter_group_name=params.name,
            username=USER,
            password=master_password.result,
            # Private access: in the VPC the VPN reaches, no public address. Public access: reached across the
            # internet, the security group admitting the listed addresses only.
            # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_VPC.WorkingWithRDSInstanceinaVPC.html
            publicly_accessible=not data.primary.private,
            db_subnet_group_name=data.primary.db_subnet_group,
            vpc_security_group_ids=[firewall.id],
            # A logical replica copies a DROP or DELETE within seconds, so it is no backup: automated backups (point
            # in time restore) over a week, and no deletion by an errant `pulumi destroy`.
            # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithAutomatedBackups.html
            # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html#USER_DeletionProtection
            backup_retention_period=BACKUP_RETENTION_DAYS,
            deletion_protection=True,
            final_snapshot_identifier=f"{service.name}-data-final",
            tags=aws_tags,
            opts=on_aws,
        )

        azure_provider = azure.Provider(f"{name}-azure", location=secondary.location, opts=parent)
        on_azure = pulumi.ResourceOptions(parent=self, provider=azure_provider)
        azure_tags = bascule_tags(service, Role.SECONDARY)
        group = azure.resources.ResourceGroup(f"{name}-rg", location=secondary.location, tags=azure_tags,
                                              opts=on_azure)  # fmt: skip
        standby = data.standby
        # Private access (VNet integration) gives the standby an address in its delegated subnet, which RDS admits
        # over the site-to-site VPN; with public access its outbound address is not documented as stable
        # (MicrosoftDocs/azure-docs#119879: it changed with the SKU), hence the README's warning.
        # https://learn.microsoft.com/en-us/azure/postgresql/flexible-server/concepts-networking-private
        network = (
            azure.dbforpostgresql.NetworkArgs(delegated_subnet_resource_id=standby.delegated_subnet_id,
                                              private_dns_zone_arm_resource_id=standby.private_dns_zone_id)
            if standby.private
            else None
        )  # fmt: skip
        self.standby = azure.dbforpostgresql.Server(
            f"{name}-standby",
            resource_group_name=group.name,
            location=secondary.location,
            version=str(data.primary.major),
            sku=azure.dbforpostgresql.SkuArgs(name=standby.sku, tier=standby.tier),
            storage=azure.dbforpostgresql.StorageArgs(storage_size_gb=standby.storage_gb),
            administrator_login=standby.administrator_login,
            administrator_login_password=admin_password.result,
            network=network,
            tags=azure_tags,
            opts=on_azure,
        )
        rules: list[pulumi.Resource] = []
        if not standby.private:
            # Public access admits nothing until a firewall rule lists the client: the deployer for the SQL step,
            # the application for after promotion. (Replication is outbound from the standby: no rule needed.)
            # https://learn.microsoft.com/en-us/azure/postgresql/flexible-server/concepts-firewall-rules
            for what, cidrs in (("deployer", data.primary.admin_cidrs), ("app", data.primary.app_cidrs)):
                for index, cidr in enumerate(cidrs):
                    start, end = _firewall_range(cidr)
                    rules.append(azure.dbforpostgresql.FirewallRule(
                        f"{name}-{what}-{index}", firewall_rule_name=f"bascule-{what}-{index}",
                        resource_group_name=group.name, server_name=self.standby.name, start_ip_address=start,
                        end_ip_address=end, opts=on_azure,
                    ))  # fmt: skip
        workers = azure.dbforpostgresql.Configuration(
            f"{name}-workers",
            configuration_name="max_worker_processes",
            resource_group_name=group.name,
            server_name=self.standby.name,
            value=SUBSCRIBER_WORKERS,
            source="user-override",
            opts=on_azure,
        )
        # max_worker_processes is static: the value is stored at once but used only after a server restart
        # (concepts-logical step 5; "Static: these parameters require a server restart",
        # https://learn.microsoft.com/en-us/azure/postgresql/flexible-server/concepts-server-parameters).
        # The Azure API has no restart resource, so the deployer's Azure CLI restarts the server, again whenever
        # the value changes.
        # https://learn.microsoft.com/en-us/cli/azure/postgres/flexible-server#az-postgres-flexible-server-restart
        restart = command.local.Command(
            f"{name}-restart",
            create='az postgres flexible-server restart --resource-group "$GROUP" --name "$SERVER"',
            environment={"GROUP": group.name, "SERVER": self.standby.name},
            triggers=[workers.value],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[workers]),
        )

        publisher = postgresql.Provider(
            f"{name}-publisher", host=self.primary.address, port=self.primary.port, username=USER,
            password=master_password.result, sslmode="require", superuser=False, opts=parent,
        )  # fmt: skip
        subscriber = postgresql.Provider(
            f"{name}-subscriber", host=self.standby.fully_qualified_domain_name, port=PORT,
            username=standby.administrator_login, password=admin_password.result, sslmode="require",
            superuser=False, opts=pulumi.ResourceOptions(parent=self, depends_on=rules),
        )  # fmt: skip
        on_publisher = pulumi.ResourceOptions(parent=self, provider=publisher)
        # On RDS the replication connection's user needs the rds_replication role (the logical replication page
        # above); a login of its own keeps the master's password off the standby.
        replicator = postgresql.Role(
            f"{name}-replicator", name=REPLICATOR, login=True, password=replicator_password.result,
            roles=["rds_replication"], opts=on_publisher,
        )  # fmt: skip
        # Sorted: pulumi-postgresql's Publication documents "Table string must be listed in alphabetical order"
        # (https://www.pulumi.com/registry/packages/postgresql/api-docs/publication/).
        tables = sorted(data.tables) or None
        schemas = sorted({table.split(".")[0] for table in data.tables}) or ["public"]
        for database in data.databases:
            # DDL is not replicated: the database (and the application's schema) must exist on both sides.
            created = [
                postgresql.Database(f"{name}-{database}-{side}", name=database, opts=pulumi.ResourceOptions(
                    parent=self, provider=provider))
                for side, provider in (("primary", publisher), ("standby", subscriber))
            ]  # fmt: skip
            on_database = pulumi.ResourceOptions(parent=self, provider=publisher, depends_on=[created[0], replicator])
            # The initial copy reads each table as the replicator: CONNECT, SELECT on today's tables, and SELECT on
            # tables the master creates later (default privileges), so a migration's new table can be copied.
            # https://www.postgresql.org/docs/16/logical-replication-security.html
            grants: list[pulumi.Resource] = [postgresql.Grant(
                f"{name}-{database}-connect", database=database, role=REPLICATOR, object_type="database",
                privileges=["CONNECT"], opts=on_database,
            )]  # fmt: skip
            for schema in schemas:
                grants.append(postgresql.Grant(
                    f"{name}-{database}-{schema}-select", database=database, role=REPLICATOR, schema=schema,
                    object_type="table", privileges=["SELECT"], opts=on_database,
                ))  # fmt: skip
                grants.append(postgresql.DefaultPrivileges(
                    f"{name}-{database}-{schema}-default-select", database=database, role=REPLICATOR, owner=USER,
                    schema=schema, object_type="table", privileges=["SELECT"], opts=on_database,
                ))  # fmt: skip
            publication = postgresql.Publication(
                f"{name}-{database}-pub", name=f"bascule_{database}", database=database, all_tables=tables is None,
                tables=tables, opts=on_database,
            )  # fmt: skip
            conninfo: pulumi.Output[str] = pulumi.Output.secret(
                pulumi.Output.format(
                    # sslmode=require encrypts but does not authenticate RDS (see the README): Flexible Server takes
                    # no uploaded CA file for sslrootcert, so verify-full cannot be configured on the subscriber.
                    "host={0} port={1} dbname={2} user={3} password={4} sslmode=require",
                    self.primary.address, self.primary.port, database, REPLICATOR, replicator_password.result,
                )
            )  # fmt: skip
            # conninfo is ForceNew in pulumi-postgresql, and a replaced subscription drops its slot and copies every
            # table again: a rotated password or moved endpoint is applied by hand (ALTER SUBSCRIPTION ...
            # CONNECTION), not by replacement, and any other replacement drops the old one first (a slot name is
            # unique on the publisher). Promotion drops the subscription outside Pulumi (README runbook).
            postgresql.Subscription(
                f"{name}-{database}-sub", name=f"bascule_{database}", database=database, conninfo=conninfo,
                publications=[publication.name],
                opts=pulumi.ResourceOptions(parent=self, provider=subscriber,
                                            depends_on=[restart, created[1], *grants],
                                            delete_before_replace=True, ignore_changes=["conninfo"]),
            )  # fmt: skip
        self.register_outputs(
            {"primary_address": self.primary.address, "standby_fqdn": self.standby.fully_qualified_domain_name}
        )
