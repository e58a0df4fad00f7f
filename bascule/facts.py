"""Provider facts: regions with their jurisdiction, and the limits the providers enforce.

Everything else in Bascule (spec validation, components, inventory, policies, drills) reads these
tables instead of repeating a literal, so a provider change is one edit here. Sources: the providers'
documentation as summarised in the project's DNS facts; re-check when upgrading the SDKs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Cloud(StrEnum):
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    SCALEWAY = "scaleway"


class Jurisdiction(StrEnum):
    """Whose law a region's data sits under; `non-eu` includes European non-EU states (UK, CH, NO)."""

    EU = "eu"
    NON_EU = "non-eu"


@dataclass(frozen=True)
class Region:
    cloud: Cloud
    name: str
    country: str
    jurisdiction: Jurisdiction
    multi_region: bool = False
    """A location spanning several regions (GCS `EU`, `NAM4`): one regional outage does not take it down."""


def _regions(cloud: Cloud, eu: dict[str, str], other: dict[str, str]) -> dict[str, Region]:
    table = {n: Region(cloud, n, c, Jurisdiction.EU) for n, c in eu.items()}
    table.update({n: Region(cloud, n, c, Jurisdiction.NON_EU) for n, c in other.items()})
    return table


AWS_REGIONS = _regions(
    Cloud.AWS,
    eu={
        "eu-west-1": "IE",
        "eu-west-3": "FR",
        "eu-central-1": "DE",
        "eu-north-1": "SE",
        "eu-south-1": "IT",
        "eu-south-2": "ES",
    },
    other={
        "eu-west-2": "GB",
        "eu-central-2": "CH",
        "us-east-1": "US",
        "us-east-2": "US",
        "us-west-1": "US",
        "us-west-2": "US",
        "ca-central-1": "CA",
        "ca-west-1": "CA",
        "mx-central-1": "MX",
        "sa-east-1": "BR",
        "af-south-1": "ZA",
        "il-central-1": "IL",
        "me-central-1": "AE",
        "me-south-1": "BH",
        "ap-east-1": "HK",
        "ap-south-1": "IN",
        "ap-south-2": "IN",
        "ap-northeast-1": "JP",
        "ap-northeast-2": "KR",
        "ap-northeast-3": "JP",
        "ap-southeast-1": "SG",
        "ap-southeast-2": "AU",
        "ap-southeast-3": "ID",
        "ap-southeast-4": "AU",
        "ap-southeast-5": "MY",
        "ap-southeast-7": "TH",
    },
)

AZURE_REGIONS = _regions(
    Cloud.AZURE,
    eu={
        "westeurope": "NL",
        "northeurope": "IE",
        "francecentral": "FR",
        "francesouth": "FR",
        "germanywestcentral": "DE",
        "germanynorth": "DE",
        "swedencentral": "SE",
        "polandcentral": "PL",
        "italynorth": "IT",
        "spaincentral": "ES",
        "austriaeast": "AT",
        "belgiumcentral": "BE",
    },
    other={
        "uksouth": "GB",
        "ukwest": "GB",
        "switzerlandnorth": "CH",
        "switzerlandwest": "CH",
        "norwayeast": "NO",
        "norwaywest": "NO",
        "eastus": "US",
        "eastus2": "US",
        "centralus": "US",
        "northcentralus": "US",
        "southcentralus": "US",
        "westcentralus": "US",
        "westus": "US",
        "westus2": "US",
        "westus3": "US",
        "canadacentral": "CA",
        "canadaeast": "CA",
        "brazilsouth": "BR",
        "japaneast": "JP",
        "japanwest": "JP",
        "koreacentral": "KR",
        "australiaeast": "AU",
        "southeastasia": "SG",
        "eastasia": "HK",
        "centralindia": "IN",
        "uaenorth": "AE",
        "southafricanorth": "ZA",
    },
)

GCP_REGIONS = _regions(
    Cloud.GCP,
    eu={
        "europe-west1": "BE",
        "europe-west3": "DE",
        "europe-west4": "NL",
        "europe-west8": "IT",
        "europe-west9": "FR",
        "europe-west10": "DE",
        "europe-west12": "IT",
        "europe-southwest1": "ES",
        "europe-north1": "FI",
        "europe-north2": "SE",
        "europe-central2": "PL",
    },
    other={
        "europe-west2": "GB",
        "europe-west6": "CH",
        "us-central1": "US",
        "us-east1": "US",
        "us-east4": "US",
        "us-east5": "US",
        "us-south1": "US",
        "us-west1": "US",
        "us-west2": "US",
        "us-west3": "US",
        "us-west4": "US",
        "northamerica-northeast1": "CA",
        "northamerica-northeast2": "CA",
        "southamerica-east1": "BR",
        "asia-east1": "TW",
        "asia-northeast1": "JP",
        "asia-southeast1": "SG",
        "australia-southeast1": "AU",
        "me-west1": "IL",
        "africa-south1": "ZA",
    },
)

# Cloud Storage multi-regions and predefined dual-regions (https://cloud.google.com/storage/docs/locations):
# names are case-insensitive there; Bascule keeps them lower-case like every other region name.
GCP_REGIONS.update(
    {
        name: Region(Cloud.GCP, name, country, jurisdiction, multi_region=True)
        for name, country, jurisdiction in (
            ("eu", "EU", Jurisdiction.EU),
            ("eur4", "EU", Jurisdiction.EU),  # Finland + Netherlands
            ("eur5", "EU", Jurisdiction.NON_EU),  # Belgium + London
            ("us", "US", Jurisdiction.NON_EU),
            ("nam4", "US", Jurisdiction.NON_EU),  # Iowa + South Carolina
            ("asia", "ASIA", Jurisdiction.NON_EU),
            ("asia1", "JP", Jurisdiction.NON_EU),  # Tokyo + Osaka
        )
    }
)

SCALEWAY_REGIONS = _regions(Cloud.SCALEWAY, eu={"fr-par": "FR", "nl-ams": "NL", "pl-waw": "PL"}, other={})

REGIONS: dict[Cloud, dict[str, Region]] = {
    Cloud.AWS: AWS_REGIONS,
    Cloud.AZURE: AZURE_REGIONS,
    Cloud.GCP: GCP_REGIONS,
    Cloud.SCALEWAY: SCALEWAY_REGIONS,
}


def region(cloud: Cloud, name: str) -> Region | None:
    return REGIONS[cloud].get(name)


GCP_ZONAL_TYPES = frozenset(
    {
        "gcp:compute/instance:Instance",
        "gcp:compute/disk:Disk",
        "gcp:compute/instanceGroup:InstanceGroup",
        "gcp:compute/instanceGroupManager:InstanceGroupManager",
        "gcp:compute/networkEndpointGroup:NetworkEndpointGroup",
    }
)
"""Zonal GCP resources: without a `zone` input the provider uses its `zone` setting (config `gcp:zone`)."""


# --- Route 53 health checks and records -----------------------------------------------------------
ROUTE53_INTERVALS = (10, 30)
"""`request_interval` is immutable after creation: changing it replaces the health check."""
ROUTE53_FAILURE_THRESHOLD = (1, 10)
ROUTE53_CHECKER_REGIONS = (
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
)
ROUTE53_MIN_CHECKER_REGIONS = 3
ROUTE53_SEARCH_STRING_MAX = 255
ROUTE53_RECOMMENDED_TTL = 60

# --- Azure Traffic Manager monitoring --------------------------------------------------------------
TRAFFIC_MANAGER_INTERVALS = (10, 30)
TRAFFIC_MANAGER_TIMEOUTS = {30: (5, 10), 10: (5, 9)}
"""Probe timeout range (seconds) allowed for each probing interval."""
TRAFFIC_MANAGER_TOLERATED_FAILURES = (0, 9)

# --- GCP Cloud DNS routing policies with health checks ---------------------------------------------
CLOUD_DNS_SOURCE_REGIONS = 3
"""A health check for Cloud DNS routing policies lists exactly three source regions..."""
CLOUD_DNS_MIN_INTERVAL = 30
"""...and then probes every 30 s or more."""

# --- Record TTLs shared by every DNS backend ------------------------------------------------------
DNS_TTL_MAX = 2_147_483_647

# --- ECS Fargate task sizes: CPU units -> allowed memory (MiB), from AWS's task-size table ----------
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
}

# --- Azure Container Apps consumption plan: vCPU -> memory, always 2 GiB per vCPU -------------------
CONTAINER_APPS_CPU = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75, 4.0)

ROUTE53_CONTROL_REGION = "us-east-1"
"""Route 53 is global, but its control plane (record edits, health-check changes) lives here."""

# Resource types that have no region: they are served from every region at once.
GLOBAL_TYPE_PREFIXES = (
    "aws:route53/",
    "aws:iam/",
    "azure-native:trafficmanager:",
    "azure-native:dns:",
    "gcp:dns/",
    # The global external load balancer's parts (a regional serverless NEG feeds them).
    "gcp:compute/globalAddress:",
    "gcp:compute/globalForwardingRule:",
    "gcp:compute/backendService:",
    "gcp:compute/uRLMap:",
    "gcp:compute/targetHttpsProxy:",
    "gcp:compute/targetHttpProxy:",
    "gcp:compute/healthCheck:",
    # Certificate Manager objects in the `global` location, and Front Door (a global service; region `global` keeps
    # it out of the regional rules, and `GLOBAL_EDGE_TYPES` below makes the policies count it as the site's edge).
    "gcp:certificatemanager/",
    "azure-native:cdn:",
)

GLOBAL_EDGE_TYPES = {"azure-native:cdn:AFDEndpoint": "Azure Front Door"}
"""Global edge services a site is reached through (type -> service name). They have no region, so no regional
rule sees them, yet one outage or change freeze of the edge takes every site behind it off the internet at once:
Azure Front Door failed globally on 29 Oct 2025 and customer configuration changes stayed blocked for days after
(https://azure.status.microsoft/en-us/status/history/). The policies count them per site
(`bascule-global-edge-ingress`)."""

# --- Where a workload runs or keeps data: the resources a region or provider outage takes down -------
# Networking, IAM, certificates and logs are left out: they follow the sites and do not serve users.
ENDPOINT_SITE = "bascule:endpoint:EndpointSite"
"""A bring-your-own site: a component whose state declares its cloud and region (nothing is created)."""
AZURE_NATIVE_2_DATABASE_TYPES = frozenset(
    {"azure-native:dbforpostgresql:FlexibleServer", "azure-native:documentdb:DatabaseAccount"}
)
AZURE_NATIVE_2_TYPES = AZURE_NATIVE_2_DATABASE_TYPES | {"azure-native:cache:Redis"}
"""Type tokens azure-native 3 renamed; still in the state of stacks last deployed with azure-native 2."""

CONTAINER_APP = "azure-native:app:ContainerApp"
"""Named `<service>-<role>` explicitly: lowercase letters, digits and '-', starting with a letter, ending with a
letter or digit, and no '--' (Azure's resource naming rules for Microsoft.App/containerApps)."""

# --- Data stores: the SITE_TYPES that keep a workload's data at rest (where its data lives) -----------
DATABASE_TYPES = frozenset(
    {
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:dynamodb/table:Table",
        "azure-native:sql:Database",
        # azure-native 3 names (checked against the installed SDK by tests); stacks deployed with
        # azure-native 2 keep the old tokens in their state (below).
        "azure-native:dbforpostgresql:Server",
        "azure-native:cosmosdb:DatabaseAccount",
        *AZURE_NATIVE_2_DATABASE_TYPES,
        "gcp:sql/databaseInstance:DatabaseInstance",
        "gcp:spanner/instance:Instance",
    }
)
"""Databases: the stores a workload's records of truth live in, which a standby must have to serve writes. Buckets,
storage accounts and caches hold data too, but hold files or copies: counting them would let a bucket elsewhere
pass for a replicated database."""

DATA_STORE_TYPES = DATABASE_TYPES | frozenset(
    {
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "azure-native:storage:StorageAccount",
        "azure-native:redis:Redis",
        *AZURE_NATIVE_2_TYPES,
        "gcp:storage/bucket:Bucket",
    }
)
"""Everything that keeps data at rest: the databases plus object storage and caches (an inventory's `data_store`)."""

SITE_TYPES = (
    frozenset(
        {
            ENDPOINT_SITE,
            "aws:ec2/instance:Instance",
            "aws:autoscaling/group:Group",
            "aws:ecs/service:Service",
            "aws:eks/cluster:Cluster",
            "aws:eks/nodeGroup:NodeGroup",
            "aws:lambda/function:Function",
            "aws:lb/loadBalancer:LoadBalancer",
            "aws:alb/loadBalancer:LoadBalancer",
            "aws:apprunner/service:Service",
            CONTAINER_APP,
            "azure-native:web:WebApp",
            "azure-native:compute:VirtualMachine",
            "azure-native:compute:VirtualMachineScaleSet",
            "azure-native:containerservice:ManagedCluster",
            "gcp:cloudrunv2/service:Service",
            "gcp:cloudrun/service:Service",
            "gcp:compute/instance:Instance",
            "gcp:compute/instanceGroupManager:InstanceGroupManager",
            "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager",
            "gcp:container/cluster:Cluster",
            "scaleway:containers/container:Container",
            "scaleway:index/instanceServer:InstanceServer",
        }
    )
    | DATA_STORE_TYPES
)

# --- The DNS switches: resources that decide where a failover sends traffic ------------------------
ROUTE53_RECORD = "aws:route53/record:Record"
ROUTE53_HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
TRAFFIC_MANAGER_PROFILE = "azure-native:trafficmanager:Profile"
CLOUD_DNS_RECORD_SET = "gcp:dns/recordSet:RecordSet"
GCP_HEALTH_CHECK = "gcp:compute/healthCheck:HealthCheck"
DYNAMIC_RESOURCE = "pulumi-python:dynamic:Resource"
"""Bascule's PowerDNS records are dynamic resources; `rtype == "LUA"` marks the failover switch."""

# --- Names: what each provider accepts, for the names Bascule generates -----------------------------
AUTONAME_SUFFIX = 8
"""Pulumi auto-names a resource `<logical name>-<7 random characters>` when no name is given, so a logical name
must leave 8 characters of the limit free: https://www.pulumi.com/docs/iac/concepts/resources/names/"""


@dataclass(frozen=True)
class NameLimit:
    """The longest physical name a resource type takes, the pattern it must match, the argument that sets it
    explicitly (else Pulumi auto-names it), and the document the limit comes from."""

    max_length: int
    pattern: str
    name_input: str
    source: str


_ELB_NAME = r"^(?!internal-)[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$"
_GCP_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

NAME_LIMITS: dict[str, NameLimit] = {
    "aws:lb/loadBalancer:LoadBalancer": NameLimit(
        32, _ELB_NAME, "name",
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html",
    ),
    "aws:lb/targetGroup:TargetGroup": NameLimit(
        32, _ELB_NAME, "name",
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html",
    ),
    "aws:iam/role:Role": NameLimit(
        64, r"^[\w+=,.@-]+$", "name", "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html"
    ),
    CONTAINER_APP: NameLimit(
        32, r"^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$", "containerAppName",
        "https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/resource-name-rules",
    ),
    "gcp:cloudrunv2/service:Service": NameLimit(
        49, _GCP_NAME, "name", "https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services"
    ),
}  # fmt: skip

DNS_NAME_MAX = 253
"""Longest DNS name in presentation form, without the trailing dot (RFC 1035 section 2.3.4)."""
DNS_LABEL_MAX = 63

VALIDATION_PREFIX_MAX = {
    "aws": len("_") + 32 + len("."),
    "gcp": len("_acme-challenge."),
    "azure": len("_dnsauth."),
}
"""Longest prefix each site kind puts before the hostname in its ownership record: ACM's `_<32 hex>.` CNAME
(https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html), Certificate Manager's
`_acme-challenge.` CNAME (https://cloud.google.com/certificate-manager/docs/dns-authorizations), Front Door's
`_dnsauth.` TXT (https://learn.microsoft.com/en-us/azure/frontdoor/domain). Hostname + prefix must fit 253."""

# --- Cloud Run (v2) CPU and memory: https://cloud.google.com/run/docs/configuring/services/memory-limits and
# https://cloud.google.com/run/docs/configuring/cpu -------------------------------------------------------
CLOUD_RUN_MEMORY_MIB = (128, 32 * 1024)
"""Smallest (first-generation environment) and largest memory limit."""
CLOUD_RUN_MIN_CPU_FOR_MEMORY = ((24 * 1024, 8), (16 * 1024, 6), (8 * 1024, 4), (4 * 1024, 2))
"""(memory above this many MiB, CPUs it needs), largest first."""
CLOUD_RUN_MIN_MEMORY_FOR_CPU = {4: 2 * 1024, 6: 4 * 1024, 8: 4 * 1024}
"""CPUs -> the least memory (MiB) they may be given."""


# --- Legal home: whose law the provider itself answers to, wherever its regions are ------------------
@dataclass(frozen=True)
class LegalHome:
    """The company behind a cloud and the law it is subject to as a company (not where a region is).

    `eu_headquartered` says only where the provider and its parent are incorporated. It does not say that
    no non-EU authority can ever compel it (an EU provider with a US subsidiary may be reached through it),
    nor anything about availability; and a US provider's EU region keeps data in the EU but the provider
    stays subject to US law such as the CLOUD Act, which reaches data in its "possession, custody, or
    control" wherever stored (18 U.S.C. § 2713; summary:
    https://wilmerhale.com/de-de/insights/blogs/wilmerhale-privacy-and-cybersecurity-law/congress-enacts-law-clarifying-reach-of-warrants-for-overseas-data).
    """

    provider: str
    company: str
    headquarters: str
    """ISO 3166-1 alpha-2 country of the provider's headquarters."""
    ultimate_parent: str
    parent_country: str
    eu_headquartered: bool
    law: str
    source: str


LEGAL_HOMES: dict[Cloud, LegalHome] = {
    Cloud.AWS: LegalHome(
        "Amazon Web Services", "Amazon Web Services, Inc.", "US", "Amazon.com, Inc.", "US", False,
        "US company: subject to US law (CLOUD Act) for data it controls, in EU regions too",
        "https://blogs.dlapiper.com/privacymatters/us-cloud-act-bolsters-us-government-powers-to-obtain-data-stored-abroad/",
    ),
    Cloud.AZURE: LegalHome(
        "Microsoft Azure", "Microsoft Corporation", "US", "Microsoft Corporation", "US", False,
        "US company: subject to US law (CLOUD Act) for data it controls, in EU regions too; the Act settled "
        "United States v. Microsoft over e-mails stored in Ireland",
        "https://kramerlevin.com/en/perspectives-search/supreme-court-rules-microsoft-case-moot-as-cloud-act-becomes-law.html",
    ),
    Cloud.GCP: LegalHome(
        "Google Cloud", "Google LLC", "US", "Alphabet Inc.", "US", False,
        "US company: subject to US law (CLOUD Act) for data it controls, in EU regions too",
        "https://blogs.dlapiper.com/privacymatters/us-cloud-act-bolsters-us-government-powers-to-obtain-data-stored-abroad/",
    ),
    Cloud.SCALEWAY: LegalHome(
        "Scaleway", "Scaleway SAS", "FR", "iliad group", "FR", True,
        "French company, wholly owned by the French iliad group: EU-headquartered (EU and French law)",
        "https://effisyn-sds.com/2021/11/30/exceptional-interview-with-yann-lechelle-ceo-of-scaleway/?lang=en",
    ),
}  # fmt: skip
"""Other EU-headquartered clouds (OVHcloud, Hetzner, Outscale, IONOS) are not `Cloud`s a stack can name yet
(not even as an endpoint's provider), so they are not in this table."""
