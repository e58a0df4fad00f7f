"""PostgresStandby: a service's PostgreSQL published from RDS (beside the AWS primary) to a warm standby on Azure
Database for PostgreSQL Flexible Server (beside the Azure secondary), by native logical replication.

Why Flexible Server: it documents native logical replication (publication/subscription) on the server itself, with
the settings a subscriber needs, so the standby is a plain subscription; Cloud SQL reaches the same only through
Database Migration Service jobs, whose promotion is an API call taking minutes. Source:
https://learn.microsoft.com/azure/postgresql/configure-maintain/concepts-logical

Paths, each stated at its resource below:
- standby -> primary (replication): the standby sits in a virtual network of its own whose subnets leave through
  one NAT gateway with a static public address; RDS, publicly accessible, admits that address only (plus the
  deployer). With the team's VPN (`primary.db_subnet_group`) RDS is private and admits the standby's subnet.
- each site's application -> the database beside it: the AWS site's tasks join a security group RDS admits, in the
  VPC RDS is in (never the region's default VPC: the site's network, or one built here that the site then runs in);
  the Azure site's Container Apps environment sits in the standby's virtual network. Each application is told its
  database as secrets (`site_database`).
- deployer -> primary only: `pulumi up` makes the roles, databases and publications on RDS; what must run on the
  standby, which has no public endpoint, is run by a job beside it (`sync.py`), which also creates the
  subscription once it can work and refreshes it for tables added later.

Logical replication carries neither DDL nor sequence values: the sync job creates on the standby the tables the
primary's migrations made, and promotion advances each sequence past the max of the columns using it (`bascule data
promote`).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure
import pulumi_postgresql as postgresql
import pulumi_random as random

from bascule import facts
from bascule.components.aws.plugin import AwsSiteSpec
from bascule.components.aws.site import own_network
from bascule.components.azure.plugin import AzureSiteSpec
from bascule.components.base import (
    AwsNetwork,
    DataArgs,
    DataComponent,
    SiteDatabase,
    bascule_tags,
    default_provider_allowed,
    fit_name,
)
from bascule.components.data import sync
from bascule.components.data.backup import JobPlace, PostgresBackup
from bascule.components.data.plugin import DataSpec, standby_subnets
from bascule.spec import Role
from bascule.spec.data import BACKUP_OUTPUT, OUTPUT, STANDBY_TYPE

PORT = 5432
SSLMODE = "require"
"""Encrypts, does not authenticate the server: Flexible Server takes no uploaded CA file for `sslrootcert`, so the
subscriber cannot verify RDS; the applications and the data commands use the same mode on both sides."""
USER = "bascule"
"""The RDS master user: `pulumi up`'s SQL step and the data commands connect as it."""
REPLICATOR = "bascule_replicator"
"""The login the standby replicates as: rds_replication plus CONNECT and SELECT, nothing of the master's rights."""
SYNC_IMAGE = "public.ecr.aws/docker/library/postgres:{major}-alpine"
"""The sync job's default image (psql, pg_dump and sh of the primary's major version): Docker's official image from
Amazon ECR Public's mirror, which counts no pulls per hour. Docker Hub allows anonymous clients 10 pulls an hour per
IPv4 address (https://docs.docker.com/docker-hub/usage/), and every execution may pull anew through the standby's
one NAT address, which the secondary site's own pulls share; ECR Public caps anonymous data at 500 GB a month
(https://docs.aws.amazon.com/AmazonECR/latest/public/public-service-quotas.html), which a run every fifteen minutes
(`sync.SCHEDULE`) stays under even if each one pulled the whole image. `standby.sync_image` names another."""
BACKUP_RETENTION_DAYS = 7
"""The replica is not a backup (a DELETE replicates): RDS keeps a week of point-in-time recovery beside it."""
STATIC_SETTINGS = {"max_worker_processes": str(sync.MIN_WORKERS), "wal_level": "logical"}
"""The standby's static server parameters, applied by one restart (step 3 of docs/deploy.md): the workers a
subscriber needs, and logical WAL so a promoted standby can publish back at failback without another restart
(concepts-logical, prerequisites)."""


def _password(name: str, opts: pulumi.ResourceOptions) -> random.RandomPassword:
    """A generated secret of letters and digits with each class present: Flexible Server's administrator password
    needs characters from three of the four classes (upper, lower, digits, symbols), and RDS refuses some symbols
    (/, @, ", space), so none are used. https://learn.microsoft.com/azure/postgresql/flexible-server/quickstart-create-server
    """
    return random.RandomPassword(
        name, length=32, special=False, min_upper=1, min_lower=1, min_numeric=1, opts=opts
    )  # fmt: skip


def _libpq_env(host: pulumi.Input[str], port: pulumi.Input[int], database: str, user: str,
               password: pulumi.Input[str]) -> dict[str, pulumi.Output[str]]:  # fmt: skip
    """What an application is told of its database: libpq's environment variables, every value a secret."""
    values: dict[str, pulumi.Input[str]] = {
        "PGHOST": host, "PGPORT": pulumi.Output.from_input(port).apply(str), "PGDATABASE": database, "PGUSER": user,
        "PGPASSWORD": password, "PGSSLMODE": SSLMODE,
    }  # fmt: skip
    return {name: pulumi.Output.secret(value) for name, value in values.items()}


class PostgresStandby(DataComponent):
    def __init__(self, name: str, args: DataArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(STANDBY_TYPE, name, None, opts)
        service = args.service
        data, primary, secondary = service.data, service.primary, service.secondary
        if (
            not isinstance(data, DataSpec)
            or not isinstance(primary, AwsSiteSpec)
            or not isinstance(secondary, AzureSiteSpec)
        ):
            raise TypeError("PostgresStandby needs a service with `data`, an 'aws' primary and an 'azure' secondary")
        if data.primary.private and args.primary_network is None:
            # Before any of its resources (a preview fails here). The DB subnet group and RDS's security groups must
            # be in one VPC, and the site's tasks in it too: a VPC built here could not hold a subnet group made
            # before it, nor the team's VPN route.
            raise pulumi.RunError(
                f"{name}: data.primary.db_subnet_group '{data.primary.db_subnet_group}' is in a VPC of yours, but the "
                "primary site has none: give it that VPC as `network` (spec) or SiteInputs.network"
            )
        self._service, self._location = service, secondary.location
        parent = pulumi.ResourceOptions(parent=self)
        master_password = _password(f"{name}-password", parent)
        replicator_password = _password(f"{name}-replicator-password", parent)
        admin_password = _password(f"{name}-standby-password", parent)
        app_passwords = {role: _password(f"{name}-{role.value}-app-password", parent)
                         for role in (Role.PRIMARY, Role.SECONDARY)}  # fmt: skip
        subnets = standby_subnets(data.standby.vnet_cidr)

        # Azure first: RDS admits the standby's egress address, known once the NAT gateway's address exists.
        # The secondary site's provider when the program passed one, else the stack's default provider (its
        # azure-native: settings apply, as to the site's own resources); every resource that takes a location names
        # the standby's. https://www.pulumi.com/docs/iac/concepts/resources/providers/
        azure_provider = args.secondary_provider
        if azure_provider is None:
            default_provider_allowed("azure-native", name, "SiteInputs.provider of the secondary site")
        on_azure = pulumi.ResourceOptions(parent=self, provider=azure_provider)
        azure_tags = bascule_tags(service, Role.SECONDARY)
        group = azure.resources.ResourceGroup(f"{name}-rg", location=secondary.location, tags=azure_tags,
                                              opts=on_azure)  # fmt: skip
        # A fixed outbound address: every subnet leaves through this NAT gateway and its static public IP ("all
        # outbound connectivity" of a subnet uses it: https://learn.microsoft.com/azure/nat-gateway/nat-overview).
        # A VNet-injected Flexible Server's outbound traffic follows its subnet's routing (Microsoft asks that route
        # tables sending everything to a firewall still let replication through:
        # https://learn.microsoft.com/azure/postgresql/network/concepts-networking-private), so the subscription
        # reaches RDS from this address. Not stated by Microsoft for PostgreSQL; observed for MySQL Flexible Server,
        # whose private-access server used an address of its delegated subnet for outbound replication over a VPN
        # (MicrosoftDocs/azure-docs#90883). A public-access server's outbound address is not documented as stable
        # (it changed with a SKU change: MicrosoftDocs/azure-docs#119879). Replication keeps the connection busy
        # (status every wal_receiver_status_interval, 10 s), well inside the gateway's 4-minute idle timeout.
        egress = azure.network.PublicIPAddress(
            f"{name}-egress", resource_group_name=group.name, location=secondary.location,
            sku=azure.network.PublicIPAddressSkuArgs(name="Standard"), public_ip_allocation_method="Static",
            public_ip_address_version="IPv4", tags=azure_tags, opts=on_azure,
        )  # fmt: skip
        nat = azure.network.NatGateway(
            f"{name}-nat", resource_group_name=group.name, location=secondary.location,
            sku=azure.network.NatGatewaySkuArgs(name="Standard"),
            public_ip_addresses=[azure.network.SubResourceArgs(id=egress.id)], tags=azure_tags, opts=on_azure,
        )  # fmt: skip
        vnet = azure.network.VirtualNetwork(
            f"{name}-vnet", resource_group_name=group.name, location=secondary.location,
            address_space=azure.network.AddressSpaceArgs(address_prefixes=[data.standby.vnet_cidr]), tags=azure_tags,
            opts=on_azure,
        )  # fmt: skip
        # One subnet at a time: Azure refuses concurrent changes to one virtual network ("AnotherOperationInProgress",
        # https://github.com/pulumi/pulumi-azure-native/issues/699). Each is delegated to what it holds and leaves
        # through the NAT gateway. `default_outbound_access=False` (no address of Azure's that may change) is what
        # Azure asks of new subnets; on delegated subnets it does not apply, "outbound connectivity is managed by the
        # individual service" (https://learn.microsoft.com/azure/virtual-network/ip-services/default-outbound-access),
        # which is why the NAT gateway, not this flag, is what the path to RDS rests on.
        created: list[azure.network.Subnet] = []
        delegations = {"postgres": "Microsoft.DBforPostgreSQL/flexibleServers", "apps": "Microsoft.App/environments",
                       "jobs": "Microsoft.App/environments"}  # fmt: skip
        for role_name, service_name in delegations.items():
            created.append(azure.network.Subnet(
                f"{name}-{role_name}", subnet_name=role_name, resource_group_name=group.name,
                virtual_network_name=vnet.name, address_prefix=subnets[role_name],
                delegations=[azure.network.DelegationArgs(name=role_name, service_name=service_name)],
                nat_gateway=azure.network.SubResourceArgs(id=nat.id), default_outbound_access=False,
                opts=pulumi.ResourceOptions.merge(on_azure, pulumi.ResourceOptions(depends_on=created[-1:])),
            ))  # fmt: skip
        postgres_subnet, apps_subnet, jobs_subnet = created
        # Private access needs a private DNS zone ending in postgres.database.azure.com, linked to the network the
        # clients resolve from (concepts-networking-private, "Use a Private DNS zone").
        zone = azure.privatedns.PrivateZone(
            f"{name}-dns", private_zone_name=f"{service.name}-data.private.postgres.database.azure.com",
            resource_group_name=group.name, location="global", tags=azure_tags, opts=on_azure,
        )  # fmt: skip
        link = azure.privatedns.VirtualNetworkLink(
            f"{name}-dns", private_zone_name=zone.name, resource_group_name=group.name, location="global",
            registration_enabled=False, virtual_network=azure.privatedns.SubResourceArgs(id=vnet.id), opts=on_azure,
        )  # fmt: skip
        standby = data.standby
        # Private access (VNet injection): no public endpoint; reachable from the network's own subnets (the
        # secondary site, the sync job) and over a VPN. Chosen at creation only.
        self.standby = azure.dbforpostgresql.Server(
            f"{name}-standby",
            resource_group_name=group.name,
            location=secondary.location,
            version=str(data.primary.major),
            sku=azure.dbforpostgresql.SkuArgs(name=standby.sku, tier=standby.tier),
            storage=azure.dbforpostgresql.StorageArgs(storage_size_gb=standby.storage_gb),
            administrator_login=standby.administrator_login,
            administrator_login_password=admin_password.result,
            # No `public_network_access`: Azure takes it only for servers not integrated into a virtual network
            # (https://learn.microsoft.com/dotnet/api/azure.resourcemanager.postgresql.flexibleservers.models.postgresqlflexibleservernetwork.publicnetworkaccess).
            network=azure.dbforpostgresql.NetworkArgs(
                delegated_subnet_resource_id=postgres_subnet.id, private_dns_zone_arm_resource_id=zone.id),
            tags=azure_tags,
            opts=pulumi.ResourceOptions.merge(on_azure, pulumi.ResourceOptions(depends_on=[link])),
        )  # fmt: skip
        # Static parameters: stored now, used after a restart, which azure-native cannot make (no restart resource
        # or call: https://github.com/pulumi/pulumi-azure-native/issues/3618) and Bascule runs no local CLI for. The
        # deployer restarts once (docs/deploy.md, step 3; `up` prints the command while a restart is pending), and the
        # sync job subscribes after it. One change at a time on the server, like the subnets.
        settings: list[azure.dbforpostgresql.Configuration] = []
        for setting, value in STATIC_SETTINGS.items():
            settings.append(azure.dbforpostgresql.Configuration(
                f"{name}-{setting.replace('_', '-')}", configuration_name=setting, resource_group_name=group.name,
                server_name=self.standby.name, value=value, source="user-override",
                opts=pulumi.ResourceOptions.merge(on_azure, pulumi.ResourceOptions(depends_on=settings[-1:])),
            ))  # fmt: skip
        self._warn_while_restart_pending(group.name, settings, on_azure)
        # The databases, made through Azure's API (no SQL connection needed): DDL is not replicated.
        standby_databases = [
            azure.dbforpostgresql.Database(f"{name}-{database}-standby", database_name=database,
                                           resource_group_name=group.name, server_name=self.standby.name,
                                           opts=pulumi.ResourceOptions.merge(on_azure, pulumi.ResourceOptions(
                                               depends_on=settings)))
            for database in data.databases
        ]  # fmt: skip

        # AWS: RDS in the primary site's VPC, by the site's provider (the stack's default one unless the program
        # passed one), each resource in the site's region (pulumi-aws 7's per-resource `region`).
        aws_provider = args.primary_provider
        if aws_provider is None:
            default_provider_allowed("aws", name, "SiteInputs.provider of the primary site")
        region = None if aws_provider is not None else primary.region
        on_aws = pulumi.ResourceOptions(parent=self, provider=aws_provider)
        aws_tags = bascule_tags(service, Role.PRIMARY)
        # Never the region's default VPC (landing-zone accounts delete it): the network the site is given, else a
        # VPC built here from the site's `vpc_cidr`, which the site then runs in (`site_database`).
        self.network: AwsNetwork = args.primary_network or own_network(name, primary.vpc_cidr, aws_tags, region,
                                                                        on_aws)  # fmt: skip
        params = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{data.primary.major}",
            description=f"Bascule: logical replication of {service.name} to its EU standby",
            parameters=[
                # Static: applied when the new instance first starts with this group; then wal_level is logical.
                # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.FeatureSupport.LogicalReplication.html
                aws.rds.ParameterGroupParameterArgs(name="rds.logical_replication", value="1",
                                                    apply_method="pending-reboot"),
                # A subscriber gone silent pins WAL until the disk fills; past this many MB its slot is invalidated
                # instead (reloadable, so applied at once): https://www.postgresql.org/docs/15/runtime-config-replication.html
                aws.rds.ParameterGroupParameterArgs(name="max_slot_wal_keep_size", value=str(data.primary.wal_keep_mb),
                                                    apply_method="immediate"),
                # TLS only (the default from PostgreSQL 15 on RDS, set here for older majors too), applied at once:
                # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1", apply_method="immediate"),
            ],
            tags=aws_tags,
            region=region,
            opts=on_aws,
        )  # fmt: skip
        # The application's tasks join this group; the database's group admits it (a security group as the
        # source admits whatever carries it: https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html).
        clients = aws.ec2.SecurityGroup(
            f"{name}-clients", vpc_id=self.network.vpc_id,
            description=f"Bascule: {service.name} primary tasks that reach the database", tags=aws_tags,
            region=region, opts=on_aws,
        )  # fmt: skip
        replication_source = (
            pulumi.Output.from_input(subnets["postgres"])
            if data.primary.private
            else egress.ip_address.apply(lambda ip: f"{ip}/32")
        )
        # Port 5432 from the standby (its NAT address, or its subnet over the VPN), the deployer (`pulumi up`'s SQL
        # step) and the site's tasks, nothing else. Inline rules only: the AWS provider documents that mixing inline
        # ingress with separate rule resources makes them fight.
        # https://www.pulumi.com/registry/packages/aws/api-docs/ec2/securitygroup/
        firewall = aws.ec2.SecurityGroup(
            f"{name}-database",
            description=f"Bascule: {service.name} database: standby, deployer and the primary's tasks only",
            vpc_id=self.network.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=PORT, to_port=PORT,
                                                 cidr_blocks=[replication_source], description="standby replication"),
                aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=PORT, to_port=PORT,
                                                 cidr_blocks=list(data.primary.admin_cidrs),
                                                 description="deployer (pulumi up)"),
                aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=PORT, to_port=PORT,
                                                 security_groups=[clients.id], description="primary tasks"),
            ],
            tags=aws_tags,
            region=region,
            opts=on_aws,
        )  # fmt: skip
        # Public path: the site's public subnets (a route to an internet gateway, in two Availability Zones as the
        # load balancer needs and a DB subnet group requires). From inside the VPC the endpoint resolves to the
        # private address, so the tasks' traffic stays in the VPC ("When you connect from within the same VPC as
        # the DB instance, the endpoint resolves to the private IP address":
        # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html, PubliclyAccessible).
        subnet_group: pulumi.Input[str]
        if data.primary.db_subnet_group is not None:
            subnet_group = data.primary.db_subnet_group
        else:
            subnet_group = aws.rds.SubnetGroup(
                f"{name}-subnets", subnet_ids=self.network.alb_subnet_ids,
                description=f"Bascule: {service.name} database, in the primary site's public subnets",
                tags=aws_tags, region=region, opts=on_aws,
            ).name  # fmt: skip
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
            # Private path: in the team's subnets the VPN reaches, no public address. Public path: reached across
            # the internet, the security group admitting the listed sources only.
            # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_VPC.WorkingWithRDSInstanceinaVPC.html
            publicly_accessible=not data.primary.private,
            db_subnet_group_name=subnet_group,
            vpc_security_group_ids=[firewall.id],
            # A logical replica copies a DROP or DELETE within seconds, so it is no backup: automated backups (point
            # in time restore) over a week, and no deletion by an errant `pulumi destroy`.
            # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithAutomatedBackups.html
            # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html#USER_DeletionProtection
            backup_retention_period=BACKUP_RETENTION_DAYS,
            deletion_protection=True,
            final_snapshot_identifier=f"{service.name}-data-final",
            tags=aws_tags,
            region=region,
            opts=on_aws,
        )
        first = data.databases[0]
        self._env = {
            Role.PRIMARY: _libpq_env(self.primary.address, self.primary.port, first, data.app_role,
                                     app_passwords[Role.PRIMARY].result),
            Role.SECONDARY: _libpq_env(self.standby.fully_qualified_domain_name, PORT, first, data.app_role,
                                       app_passwords[Role.SECONDARY].result),
        }  # fmt: skip
        # The AWS application's copy, read by ECS at task start: the task definition names the secret only.
        app_secret = aws.secretsmanager.Secret(
            f"{name}-primary-app", description=f"Bascule: {service.name} primary database, for the application",
            tags=aws_tags, region=region, opts=on_aws,
        )  # fmt: skip
        version = aws.secretsmanager.SecretVersion(
            f"{name}-primary-app", secret_id=app_secret.id,
            secret_string=pulumi.Output.json_dumps(self._env[Role.PRIMARY]), region=region,
            opts=on_aws,
        )  # fmt: skip
        # The version's `secret_arn` (the secret's ARN), so the task definition, and the tasks ECS starts from it,
        # come after the value exists: a task started before would stop, unable to read AWSCURRENT.
        self._secret_arn = version.secret_arn
        self._clients = clients.id
        self._apps_subnet = apps_subnet.id

        # The SQL step on RDS, from where `pulumi up` runs (`admin_cidrs`).
        publisher = postgresql.Provider(
            f"{name}-publisher", host=self.primary.address, port=self.primary.port, username=USER,
            password=master_password.result, sslmode=SSLMODE, superuser=False, opts=parent,
        )  # fmt: skip
        on_publisher = pulumi.ResourceOptions(parent=self, provider=publisher)
        # On RDS the replication connection's user needs the rds_replication role (the logical replication page
        # above); a login of its own keeps the master's password off the standby.
        replicator = postgresql.Role(
            f"{name}-replicator", name=REPLICATOR, login=True, password=replicator_password.result,
            roles=["rds_replication"], opts=on_publisher,
        )  # fmt: skip
        # The primary's application login: read-write (the standby's is made read-only by the sync job).
        app = postgresql.Role(
            f"{name}-app", name=data.app_role, login=True, password=app_passwords[Role.PRIMARY].result,
            opts=on_publisher,
        )  # fmt: skip
        publications: list[pulumi.Resource] = []
        for database in data.databases:
            created_db = postgresql.Database(f"{name}-{database}-primary", name=database, opts=on_publisher)
            on_database = pulumi.ResourceOptions(parent=self, provider=publisher,
                                                 depends_on=[created_db, replicator, app])  # fmt: skip
            # The application owns what its migrations create, in `public` (which PostgreSQL 15 closed to PUBLIC):
            # https://www.postgresql.org/docs/current/ddl-schemas.html#DDL-SCHEMAS-PRIV
            grants: list[pulumi.Resource] = [
                postgresql.Grant(f"{name}-{database}-app-connect", database=database, role=data.app_role,
                                 object_type="database", privileges=["CONNECT", "TEMPORARY"], opts=on_database),
                postgresql.Grant(f"{name}-{database}-app-schema", database=database, role=data.app_role,
                                 schema="public", object_type="schema", privileges=["CREATE", "USAGE"],
                                 opts=on_database),
                # The initial copy and each refresh read every table as the replicator: CONNECT, SELECT on today's
                # tables and on those the application creates later (default privileges for its role).
                # https://www.postgresql.org/docs/16/logical-replication-security.html
                postgresql.Grant(f"{name}-{database}-connect", database=database, role=REPLICATOR,
                                 object_type="database", privileges=["CONNECT"], opts=on_database),
                postgresql.Grant(f"{name}-{database}-schema", database=database, role=REPLICATOR, schema="public",
                                 object_type="schema", privileges=["USAGE"], opts=on_database),
                postgresql.Grant(f"{name}-{database}-select", database=database, role=REPLICATOR, schema="public",
                                 object_type="table", privileges=["SELECT"], opts=on_database),
                postgresql.DefaultPrivileges(f"{name}-{database}-default-select", database=database,
                                             role=REPLICATOR, owner=data.app_role, schema="public",
                                             object_type="table", privileges=["SELECT"], opts=on_database),
            ]  # fmt: skip
            # FOR ALL TABLES: no table need exist yet, and tables created later are published without a change
            # here ("including tables created in the future": https://www.postgresql.org/docs/current/sql-createpublication.html).
            # PostgreSQL reserves it to superusers; RDS lets its master (rds_superuser) create it
            # (https://github.com/neondatabase/neon/issues/6229, citing
            # https://docs.aws.amazon.com/dms/latest/sbs/chap-manageddatabases.postgresql-rds-postgresql-full-load-publisher.html).
            publications.append(postgresql.Publication(
                f"{name}-{database}-pub", name=sync.publication(database), database=database, all_tables=True,
                opts=pulumi.ResourceOptions(parent=self, provider=publisher, depends_on=[created_db, *grants]),
            ))  # fmt: skip

        jobs = self._sync_job(name, data, group.name, jobs_subnet, admin_password, replicator_password,
                              app_passwords[Role.SECONDARY], on_azure,
                              depends_on=[*settings, *standby_databases, *publications, firewall])  # fmt: skip
        backup_output: dict[str, object] = {}
        if data.backup is not None:
            # The dump is taken on the standby: it holds every row the primary shipped, and reading it costs the
            # primary nothing. As the administrator, whom the sync job made a member of the application's role, the
            # owner of the replicated tables (sync.py, step 1).
            source = pulumi.Output.format(
                "postgresql://{0}:{1}@{2}:{3}/postgres?sslmode={4}", standby.administrator_login,
                admin_password.result, self.standby.fully_qualified_domain_name, PORT, SSLMODE,
            )  # fmt: skip
            place = JobPlace(environment_id=jobs.id, group=group.name, location=secondary.location,
                             tags=azure_tags, provider=azure_provider)  # fmt: skip
            backup = PostgresBackup(f"{name}-backup", service, data.backup, data.databases, source, place,
                                    args.backup_provider, opts=pulumi.ResourceOptions(parent=self,
                                    depends_on=standby_databases))  # fmt: skip
            backup_output[BACKUP_OUTPUT] = backup.output

        # What `bascule data`, `verify --data` and `drill --data` read from the state (the data contract,
        # bascule/data/state.py): registered outputs are kept in the state, secrets as secrets. The app role's
        # password on each side lets the commands prove a fence by a refused login and a promotion by an accepted
        # write; the replication login is what failback subscribes the standby with again (never the master).
        self.register_outputs({OUTPUT: {
            "service": service.name,
            "databases": list(data.databases),
            "app_role": data.app_role,
            "primary": {"host": self.primary.address, "port": self.primary.port, "user": USER,
                        "password": pulumi.Output.secret(master_password.result), "sslmode": SSLMODE,
                        "provider": "aws-rds",
                        "app_password": pulumi.Output.secret(app_passwords[Role.PRIMARY].result)},
            "standby": {"host": self.standby.fully_qualified_domain_name, "port": PORT,
                        "user": standby.administrator_login, "password": pulumi.Output.secret(admin_password.result),
                        "sslmode": SSLMODE, "provider": "azure-flexible",
                        "app_password": pulumi.Output.secret(app_passwords[Role.SECONDARY].result)},
            "replication": {"user": REPLICATOR, "password": pulumi.Output.secret(replicator_password.result)},
            "publications": {database: sync.publication(database) for database in data.databases},
            "subscriptions": {database: sync.publication(database) for database in data.databases},
            "wal_keep_mb": data.primary.wal_keep_mb,
            "rpo_seconds": service.rpo_seconds,
        }, **backup_output})  # fmt: skip

    def site_database(self, role: Role) -> SiteDatabase:
        """The primary's application reaches RDS in its VPC through the clients' security group and reads the
        secret; the secondary's sits in the standby's virtual network and holds its values as app secrets."""
        if role is Role.PRIMARY:
            return SiteDatabase(self._env[role], secret_arn=self._secret_arn, security_group_id=self._clients,
                                network=self.network)  # fmt: skip
        return SiteDatabase(self._env[role], subnet_id=self._apps_subnet)

    def _warn_while_restart_pending(
        self, group: pulumi.Input[str], settings: list[azure.dbforpostgresql.Configuration],
        on_azure: pulumi.ResourceOptions,
    ) -> None:  # fmt: skip
        """Say on every `up` (and preview), while the server still runs without its static settings, what the
        deployer runs. Read live (not from the state, which keeps the value of the `up` that set it)."""
        current = azure.dbforpostgresql.get_configuration_output(
            configuration_name="max_worker_processes", resource_group_name=group, server_name=self.standby.name,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=on_azure.provider, depends_on=settings),
        )  # fmt: skip

        def say(values: list[object]) -> None:
            pending, server, rg = values
            if pending:
                pulumi.log.warn(
                    f"the standby {server} waits for a restart to apply max_worker_processes and wal_level; run once: "
                    f"az postgres flexible-server restart --resource-group {rg} --name {server} (or the portal's "
                    "Restart). Its sync job subscribes at its next run after it (docs/deploy.md, step 3)",
                    resource=self,
                )

        pulumi.Output.all(current.is_config_pending_restart, self.standby.name, group).apply(say)

    def _sync_job(
        self, name: str, data: DataSpec, group: pulumi.Input[str], subnet: azure.network.Subnet,
        admin_password: random.RandomPassword, replicator_password: random.RandomPassword,
        app_password: random.RandomPassword, on_azure: pulumi.ResourceOptions, depends_on: list[pulumi.Resource],
    ) -> azure.app.ManagedEnvironment:  # fmt: skip
        """A scheduled Container Apps job in the standby's network, running `sync.SCRIPT` (what the deployer's
        machine cannot: the standby has no public endpoint). Jobs run in an environment, which takes a subnet of
        its own: https://learn.microsoft.com/azure/container-apps/jobs. The environment is returned: the backup
        job runs in it too."""
        tags = bascule_tags(self._service, Role.SECONDARY)
        env = azure.app.ManagedEnvironment(
            f"{name}-jobs", resource_group_name=group, location=self._location,
            vnet_configuration=azure.app.VnetConfigurationArgs(infrastructure_subnet_id=subnet.id),
            workload_profiles=[azure.app.WorkloadProfileArgs(name="Consumption", workload_profile_type="Consumption")],
            tags=tags, opts=on_azure,
        )  # fmt: skip
        publisher = pulumi.Output.format(
            "host={0} port={1} user={2} password={3} sslmode={4}", self.primary.address, self.primary.port,
            REPLICATOR, replicator_password.result, SSLMODE,
        )  # fmt: skip
        secrets = {"admin-password": admin_password.result, "publisher": publisher, "app-password": app_password.result}

        plain: dict[str, pulumi.Input[str]] = {"PGHOST": self.standby.fully_qualified_domain_name, "PGPORT": str(PORT),
                 "PGUSER": data.standby.administrator_login, "PGSSLMODE": SSLMODE,
                 "BASCULE_APP_ROLE": data.app_role, "BASCULE_DATABASES": " ".join(data.databases),
                 "BASCULE_MIN_WORKERS": str(sync.MIN_WORKERS)}  # fmt: skip
        refs = {"PGPASSWORD": "admin-password", "BASCULE_PUBLISHER": "publisher",
                "BASCULE_APP_PASSWORD": "app-password"}  # fmt: skip
        assert set(plain) | set(refs) == set(sync.ENV), "the job's environment is the script's"
        # A scheduled job: each execution runs the script once, with its secrets as `secretRef` variables
        # (https://learn.microsoft.com/azure/container-apps/manage-secrets); a failed run is retried by the next.
        # Auto-named, so its logical name leaves room for the suffix in the 32 characters a job name may have.
        azure.app.Job(
            fit_name(f"{name}-sync", facts.CONTAINER_APPS_JOB),
            resource_group_name=group,
            location=self._location,
            environment_id=env.id,
            workload_profile_name="Consumption",
            configuration=azure.app.JobConfigurationArgs(
                trigger_type="Schedule",
                schedule_trigger_config=azure.app.JobConfigurationScheduleTriggerConfigArgs(
                    cron_expression=sync.SCHEDULE, parallelism=1, replica_completion_count=1),
                replica_timeout=600,
                replica_retry_limit=0,
                secrets=[azure.app.SecretArgs(name=key, value=pulumi.Output.secret(value))
                         for key, value in secrets.items()],
            ),
            template=azure.app.JobTemplateArgs(containers=[azure.app.ContainerArgs(
                name="sync",
                image=data.standby.sync_image or SYNC_IMAGE.format(major=data.primary.major),
                command=["/bin/sh", "-c", sync.SCRIPT],
                env=[*(azure.app.EnvironmentVarArgs(name=k, value=v) for k, v in plain.items()),
                     *(azure.app.EnvironmentVarArgs(name=k, secret_ref=v) for k, v in refs.items())],
                resources=azure.app.ContainerResourcesArgs(cpu=0.25, memory="0.5Gi"),
            )]),
            tags=tags,
            opts=pulumi.ResourceOptions.merge(on_azure, pulumi.ResourceOptions(depends_on=depends_on)),
        )  # fmt: skip
        return env
