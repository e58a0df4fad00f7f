"""PostgresStandby: a service's PostgreSQL published from RDS (beside the AWS primary) to a warm standby on Azure
Database for PostgreSQL Flexible Server (beside the Azure secondary), by native logical replication.

Why Flexible Server: it documents native logical replication (publication/subscription) and pglogical on the server
itself, with the settings a subscriber needs (`max_worker_processes` at least 16), so the standby is a plain
subscription we create and drop; Cloud SQL reaches the same only through Database Migration Service jobs, whose
promotion is an API call taking minutes. Source:
https://learn.microsoft.com/en-us/azure/postgresql/flexible-server/concepts-logical

Logical replication carries neither DDL nor sequence values: the application's migrations must run on both sides,
and promotion must advance every sequence past its max (the sandbox drill proves the failure without it).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure
import pulumi_postgresql as postgresql
import pulumi_random as random

from bascule.components.base import bascule_tags
from bascule.spec import AwsSiteSpec, AzureSiteSpec, Role, ServiceSpec

PORT = 5432
USER = "bascule"
SUBSCRIBER_WORKERS = "16"
"""Flexible Server's documented minimum `max_worker_processes` for logical replication (concepts-logical, above)."""


class PostgresStandby(pulumi.ComponentResource):
    def __init__(self, name: str, service: ServiceSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:data:PostgresStandby", name, None, opts)
        data, primary, secondary = service.data, service.primary, service.secondary
        if data is None or not isinstance(primary, AwsSiteSpec) or not isinstance(secondary, AzureSiteSpec):
            raise TypeError("PostgresStandby needs a service with `data`, an 'aws' primary and an 'azure' secondary")
        parent = pulumi.ResourceOptions(parent=self)
        # One password for the replication user on both sides, generated and kept as a Pulumi secret.
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=parent)

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
                # TLS only (the default from PostgreSQL 15 on RDS, set here for older majors too):
                # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1", apply_method="pending-reboot"),
            ],
            tags=aws_tags,
            opts=on_aws,
        )  # fmt: skip
        # The replication path is the only way in: port 5432 from the standby's addresses, nothing else.
        firewall = aws.ec2.SecurityGroup(
            f"{name}-replication",
            description=f"Bascule: {service.name} standby replication only",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=PORT, to_port=PORT,
                                                      cidr_blocks=list(data.primary.replication_source_cidrs))],
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
            password=password.result,
            publicly_accessible=True,  # reached from another provider; the security group admits the standby only
            vpc_security_group_ids=[firewall.id],
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
        self.standby = azure.dbforpostgresql.Server(
            f"{name}-standby",
            resource_group_name=group.name,
            location=secondary.location,
            version=str(data.primary.major),
            sku=azure.dbforpostgresql.SkuArgs(name=standby.sku, tier=standby.tier),
            storage=azure.dbforpostgresql.StorageArgs(storage_size_gb=standby.storage_gb),
            administrator_login=standby.administrator_login,
            administrator_login_password=password.result,
            tags=azure_tags,
            opts=on_azure,
        )
        workers = azure.dbforpostgresql.Configuration(
            f"{name}-workers",
            configuration_name="max_worker_processes",
            resource_group_name=group.name,
            server_name=self.standby.name,
            value=SUBSCRIBER_WORKERS,
            source="user-override",
            opts=on_azure,
        )

        publisher = postgresql.Provider(
            f"{name}-publisher", host=self.primary.address, port=self.primary.port, username=USER,
            password=password.result, sslmode="require", superuser=False, opts=parent,
        )  # fmt: skip
        subscriber = postgresql.Provider(
            f"{name}-subscriber", host=self.standby.fully_qualified_domain_name, port=PORT,
            username=standby.administrator_login, password=password.result, sslmode="require", superuser=False,
            opts=parent,
        )  # fmt: skip
        on_publisher = pulumi.ResourceOptions(parent=self, provider=publisher)
        # On RDS the replication connection's user needs the rds_replication role (the logical replication page above).
        replication = postgresql.GrantRole(f"{name}-rds-replication", role=USER, grant_role="rds_replication",
                                           opts=on_publisher)  # fmt: skip
        tables = list(data.tables) or None
        for database in data.databases:
            # DDL is not replicated: the database (and the application's schema) must exist on both sides.
            created = [
                postgresql.Database(f"{name}-{database}-{side}", name=database, opts=pulumi.ResourceOptions(
                    parent=self, provider=provider))
                for side, provider in (("primary", publisher), ("standby", subscriber))
            ]  # fmt: skip
            publication = postgresql.Publication(
                f"{name}-{database}-pub", name=f"bascule_{database}", database=database, all_tables=tables is None,
                tables=tables,
                opts=pulumi.ResourceOptions(parent=self, provider=publisher, depends_on=[created[0], replication]),
            )  # fmt: skip
            conninfo: pulumi.Output[str] = pulumi.Output.secret(
                pulumi.Output.format(
                    "host={0} port={1} dbname={2} user={3} password={4} sslmode=require",
                    self.primary.address, self.primary.port, database, USER, password.result,
                )
            )  # fmt: skip
            postgresql.Subscription(
                f"{name}-{database}-sub", name=f"bascule_{database}", database=database, conninfo=conninfo,
                publications=[publication.name],
                opts=pulumi.ResourceOptions(parent=self, provider=subscriber, depends_on=[workers, created[1]]),
            )  # fmt: skip
        self.register_outputs(
            {"primary_address": self.primary.address, "standby_fqdn": self.standby.fully_qualified_domain_name}
        )
