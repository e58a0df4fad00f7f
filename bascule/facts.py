"""Facts shared across providers: regions with their jurisdiction and legal homes, DNS limits, and the type tables
inventories and policies read (which resources are sites, data stores, DNS switches, global).

A fact of one provider's service (Fargate task sizes, Cloud Run memory rules, Route 53 or Traffic Manager limits,
the prefix of a site's ownership record) lives in that provider's plug-in, `bascule.components.<provider>.plugin`.
Everything else in Bascule reads these tables instead of repeating a literal, so a change is one edit here. Sources:
the providers' documentation as summarised in the project's DNS facts; re-check when upgrading the SDKs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Cloud(StrEnum):
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    SCALEWAY = "scaleway"
    HETZNER = "hetzner"
    OVHCLOUD = "ovhcloud"


class Jurisdiction(StrEnum):
    """Whether a region is located in an EU member state; `non-eu` includes European non-EU states (UK, CH, NO).
    It places the provider's stated region, not every copy of data or metadata, nor says whose law applies."""

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
    members: tuple[str, ...] = ()
    """A multi-region's ISO 3166-1 alpha-2 countries where the provider names them; () where it does not."""

    @property
    def countries(self) -> tuple[str, ...]:
        """ISO 3166-1 alpha-2 countries the location is in: a region's one country (`country` of a multi-region
        is only a label such as `EU`), a multi-region's named members, or () when they are not known."""
        return self.members if self.multi_region else (self.country,)


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
# names are case-insensitive there; Bascule keeps them lower-case like every other region name. The country is
# a label; `members` are the ISO countries where that page names them: `EU` is "data centers in the European
# Union" and `ASIA` "data centers in Asia", without naming which countries, so their members stay unknown.
GCP_REGIONS.update(
    {
        name: Region(Cloud.GCP, name, country, jurisdiction, multi_region=True, members=members)
        for name, country, jurisdiction, members in (
            ("eu", "EU", Jurisdiction.EU, ()),
            ("eur4", "EU", Jurisdiction.EU, ("FI", "NL")),  # Finland + Netherlands
            ("eur5", "EU", Jurisdiction.NON_EU, ("BE", "GB")),  # Belgium + London
            ("us", "US", Jurisdiction.NON_EU, ("US",)),  # data centers in the United States
            ("nam4", "US", Jurisdiction.NON_EU, ("US",)),  # Iowa + South Carolina
            ("asia", "ASIA", Jurisdiction.NON_EU, ()),
            ("asia1", "JP", Jurisdiction.NON_EU, ("JP",)),  # Tokyo + Osaka
        )
    }
)

# Scaleway regions and their countries: "France - Paris | PAR1, PAR2, PAR3", "Netherlands - Amsterdam | AMS1, AMS2,
# AMS3", "Poland - Warsaw | WAW1, WAW2, WAW3"
# (https://www.scaleway.com/en/docs/network/vpc/reference-content/getting-most-private-networks/).
SCALEWAY_REGIONS = _regions(Cloud.SCALEWAY, eu={"fr-par": "FR", "nl-ams": "NL", "pl-waw": "PL"}, other={})

# Hetzner Cloud locations by network zone (https://docs.hetzner.com/cloud/networks/faq: "eu-central Falkenstein
# (fsn1), Helsinki (hel1), Nuremberg (nbg1)", "us-east Ashburn, VA (ash)", "us-west Hillsboro, OR (hil)",
# "ap-southeast Singapore (sin)"); the country of each city, as the API's `country` of a location gives it (`DE` for
# Falkenstein in the `hetzner.hcloud.location_info` module's sample).
HETZNER_REGIONS = _regions(
    Cloud.HETZNER,
    eu={"fsn1": "DE", "nbg1": "DE", "hel1": "FI"},
    other={"ash": "US", "hil": "US", "sin": "SG"},
)

# OVHcloud Public Cloud regions, named after their datacentre's city ("GRA", meaning Gravelines, for region "GRA1":
# terraform-provider-ovh docs/data-sources/cloud_project_region.md, `datacenter_location`): GRA Gravelines, SBG
# Strasbourg and EU-WEST-PAR Paris in France, DE Frankfurt in Germany, WAW Warsaw in Poland; UK London and BHS
# Beauharnois (Canada) outside the EU. Only regions whose city could be placed are listed; whether a region offers
# the Public Cloud Load Balancer is OVHcloud's to say (the project's regions: `ovh.cloudproject.get_regions`).
OVHCLOUD_REGIONS = _regions(
    Cloud.OVHCLOUD,
    eu={"GRA9": "FR", "GRA11": "FR", "SBG5": "FR", "EU-WEST-PAR": "FR", "DE1": "DE", "WAW1": "PL"},
    other={"UK1": "GB", "BHS5": "CA"},
)

REGIONS: dict[Cloud, dict[str, Region]] = {
    Cloud.AWS: AWS_REGIONS,
    Cloud.AZURE: AZURE_REGIONS,
    Cloud.GCP: GCP_REGIONS,
    Cloud.SCALEWAY: SCALEWAY_REGIONS,
    Cloud.HETZNER: HETZNER_REGIONS,
    Cloud.OVHCLOUD: OVHCLOUD_REGIONS,
}


LABELLED_CLOUDS = frozenset({Cloud.GCP, Cloud.HETZNER})
"""Clouds whose resources carry labels (a `labels` map) rather than tags. GCP label keys take no ':', and Hetzner's
follow Kubernetes-style key rules (https://docs.hetzner.cloud/reference/cloud#labels, linked from the SDK's `labels`
docs); Bascule writes `bascule:service` as `bascule-service` on both and the inventory reads it back."""


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


# --- Health checks and record TTLs shared by every DNS backend -------------------------------------
DNS_TTL_MAX = 2_147_483_647
ROUTE53_SEARCH_STRING_MAX = 255
"""The longest `health_check.search_string`: Route 53's limit, the narrowest of the backends that match a body."""
ROUTE53_RESOURCE_PATH_MAX = 255
"""The longest `health_check.path`: Route 53's `ResourcePath`, "Length Constraints: Maximum length of 255"
(https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html), the narrowest backend."""
# Resource types that have no region: they are served from every region at once.
GLOBAL_TYPE_PREFIXES = (
    "aws:route53/",
    "aws:iam/",
    # Global Accelerator: anycast addresses served from AWS's edge everywhere, "a global service that supports
    # endpoints in multiple AWS Regions" (https://docs.aws.amazon.com/global-accelerator/latest/dg/what-is-global-accelerator.html);
    # its API is served from us-west-2 only, so its provider's region says nothing of where traffic goes
    # (https://docs.aws.amazon.com/global-accelerator/latest/dg/preserve-client-ip-address.regions.html).
    "aws:globalaccelerator/",
    "azure-native:trafficmanager:",
    "azure-native:dns:",
    "gcp:dns/",
    # Scaleway IAM and projects belong to the organization, not a region.
    "scaleway:iam/",
    "scaleway:account/",
    # The global external load balancer's parts (a regional serverless NEG feeds them).
    "gcp:compute/globalAddress:",
    "gcp:compute/globalForwardingRule:",
    "gcp:compute/backendService:",
    "gcp:compute/uRLMap:",
    "gcp:compute/targetHttpsProxy:",
    "gcp:compute/targetHttpProxy:",
    "gcp:compute/healthCheck:",
    # A project's API enablement: a service is on or off for the whole project (`projects/{project}/services/{name}`,
    # https://cloud.google.com/service-usage/docs/reference/rest/v1/services), in no location.
    "gcp:projects/service:",
    "gcp:compute/sSLPolicy:",
    # IAM service accounts belong to a project, not a region.
    "gcp:serviceaccount/",
    # Certificate Manager objects in the `global` location, and Front Door (a global service; region `global` keeps
    # it out of the regional rules, and `GLOBAL_EDGE_TYPES` below makes the policies count it as the site's edge).
    "gcp:certificatemanager/",
    "azure-native:cdn:",
    # Hetzner Cloud objects with no location in its API: project-wide ones (firewall, certificate, placement group), a
    # Network and its subnets (spanning the locations of a network zone), and a load balancer's services, targets and
    # network attachment (parts of the load balancer, which has the location; its servers have theirs).
    "hcloud:index/firewall:",
    "hcloud:index/uploadedCertificate:",
    "hcloud:index/placementGroup:",
    "hcloud:index/network:",
    "hcloud:index/networkSubnet:",
    "hcloud:index/loadBalancerService:",
    "hcloud:index/loadBalancerTarget:",
    "hcloud:index/loadBalancerNetwork:",
    # A Scaleway load balancer's backend, frontend and certificate: parts of the load balancer, which has the zone.
    # They are zonal in Scaleway ("Load-Balancers certificates' IDs are zoned", terraform-provider-scaleway
    # docs/resources/lb_certificate.md), but the inventory reads a location from a resource's own inputs and theirs is
    # only `lb_id` (the SDK's `loadbalancers.Backend`, `Frontend`, `Certificate`): listed here so they read "global"
    # (located by their load balancer) rather than "unknown"; nothing is served from every region.
    "scaleway:loadbalancers/backend:",
    "scaleway:loadbalancers/frontend:",
    "scaleway:loadbalancers/certificate:",
    # An OVHcloud load balancer's listener, pool and pool members: parts of the load balancer, which has the region
    # (their SDK classes, pulumi_ovh/cloud_loadbalancer_{listener,pool,pool_member}.py, take `loadbalancer_id` or
    # `pool_id` and no `region`).
    "ovh:index/cloudLoadbalancerListener:",
    "ovh:index/cloudLoadbalancerPool:",
    "ovh:index/cloudLoadbalancerPoolMember:",
    # Scaleway Edge Services: a pipeline and its stages serve from Scaleway's edge, in no region (their SDK classes,
    # pulumiverse_scaleway/edgeservices/*.py, take no `region`, unlike the bucket the backend stage names).
    "scaleway:edgeservices/",
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
AWS_ALB_SITE = "bascule:aws:AwsAlbSite"
"""An existing load balancer as a site: a component whose state declares its cloud and region, like ENDPOINT_SITE."""
DECLARED_SITES = frozenset({ENDPOINT_SITE, AWS_ALB_SITE})
"""Site components that create nothing where they run and declare it in their state instead."""
SITE_REGION_TYPES = frozenset(
    {
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:alb/loadBalancer:LoadBalancer",
        "aws:lb/listener:Listener",
        "aws:alb/listener:Listener",
        "aws:lb/listenerRule:ListenerRule",
        "aws:alb/listenerRule:ListenerRule",
        "aws:ec2/eip:Eip",
    }
)
"""What fixes a declared site's region: the resources it names or adds that serve its traffic from one region. A
load balancer, its listeners and their rules live in one region (their ARNs are `arn:${Partition}:
elasticloadbalancing:${Region}:...`, https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html;
the SDK registers the `alb` module's tokens apart from `lb`'s); an Elastic IP address is "Regional", "tied to a
Region" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/resources.html). Anything else a site depends on may be
elsewhere without moving it: a Global Accelerator's address (its API only in us-west-2), a certificate, a zone."""
AZURE_NATIVE_2_DATABASE_TYPES = frozenset(
    {"azure-native:dbforpostgresql:FlexibleServer", "azure-native:documentdb:DatabaseAccount"}
)
AZURE_NATIVE_2_TYPES = AZURE_NATIVE_2_DATABASE_TYPES | {"azure-native:cache:Redis"}
"""Type tokens azure-native 3 renamed; still in the state of stacks last deployed with azure-native 2."""

CONTAINER_APP = "azure-native:app:ContainerApp"
"""Named `<service>-<role>` explicitly: lowercase letters, digits and '-', starting with a letter, ending with a
letter or digit, and no '--' (Azure's resource naming rules for Microsoft.App/containerApps)."""
CONTAINER_APPS_JOB = "azure-native:app:Job"
"""Auto-named (`<logical name>-<suffix>`) and held to the Container App rule: "the validation on the name in the RP
is also the same for Apps and Jobs" (Azure/azure-cli-extensions#5956); an auto-named job over it fails with
"ContainerAppInvalidName ... The length must be between 2 and 32 characters inclusive"
(DefangLabs/pulumi-defang#543)."""

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
            *DECLARED_SITES,
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
            "scaleway:index/instanceServer:InstanceServer",  # the deprecated token, in older stacks' state
            "scaleway:instance/server:Server",
            "scaleway:loadbalancers/loadBalancer:LoadBalancer",
            "hcloud:index/server:Server",
            "hcloud:index/loadBalancer:LoadBalancer",
            "ovh:index/cloudInstance:CloudInstance",
            "ovh:index/cloudLoadbalancer:CloudLoadbalancer",
        }
    )
    | DATA_STORE_TYPES
)

BACKUP_TAG = ("bascule:purpose", "backup")
"""The tag Bascule's backup store carries (`data.backup`'s bucket): where a workload's backups live, which the audit
names with the provider's legal home. A tag, not a type, so a team's other buckets are not counted as backups."""

# --- The DNS switches: resources that decide where a failover sends traffic ------------------------
ROUTE53_RECORD = "aws:route53/record:Record"
ROUTE53_HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
TRAFFIC_MANAGER_PROFILE = "azure-native:trafficmanager:Profile"
CLOUD_DNS_RECORD_SET = "gcp:dns/recordSet:RecordSet"
GCP_HEALTH_CHECK = "gcp:compute/healthCheck:HealthCheck"
GCP_SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"
"""Its `account_id` must be 6-30 characters of `[a-z]([-a-z0-9]*[a-z0-9])` (the IAM API's accountId)."""
OFFLINE_AZURE_TOKEN = "bascule-offline-no-login"
"""What the offline engine answers for azure-native's `getClientToken` (no login offline, so no token): the Azure site
then shows its stand-in for the Front Door ranges it would read with one. Any other empty answer is a failed login."""
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
_CERTIFICATE_MANAGER_IDS = (
    "https://cloud.google.com/python/docs/reference/certificatemanager/latest/"
    "google.cloud.certificate_manager_v1.services.certificate_manager"
)
_COMPUTE_NAMES = "https://cloud.google.com/compute/docs/reference/rest/v1/urlMaps"

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
    CONTAINER_APPS_JOB: NameLimit(
        32, r"^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$", "jobName", "https://github.com/Azure/azure-cli-extensions/issues/5956"
    ),
    "gcp:cloudrunv2/service:Service": NameLimit(
        49, _GCP_NAME, "name", "https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services"
    ),
    GCP_SERVICE_ACCOUNT: NameLimit(
        30, _GCP_NAME, "accountId",
        "https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/create",
    ),
    # Certificate Manager: "Certificate, CertificateMap and CertificateMapEntry IDs have to fully match the regexp
    # [a-z0-9-]{1,63}" (the API client's reference); the SDK says 1-64 for certificates and DNS authorizations, so
    # the smaller of the two holds for all four.
    **{
        f"gcp:certificatemanager/{kind}": NameLimit(63, _GCP_NAME, "name", _CERTIFICATE_MANAGER_IDS)
        for kind in (
            "certificate:Certificate", "certificateMap:CertificateMap",
            "certificateMapEntry:CertificateMapEntry", "dnsAuthorization:DnsAuthorization",
        )
    },
    # Compute: "The name must be 1-63 characters long, and comply with RFC1035" (every type's API reference).
    **{
        f"gcp:compute/{kind}": NameLimit(63, _GCP_NAME, "name", _COMPUTE_NAMES)
        for kind in (
            "regionNetworkEndpointGroup:RegionNetworkEndpointGroup", "backendService:BackendService",
            "uRLMap:URLMap", "targetHttpsProxy:TargetHttpsProxy", "targetHttpProxy:TargetHttpProxy",
            "globalAddress:GlobalAddress", "globalForwardingRule:GlobalForwardingRule", "healthCheck:HealthCheck",
            "sSLPolicy:SSLPolicy",
        )
    },
}  # fmt: skip

DNS_NAME_MAX = 253
"""Longest DNS name in presentation form, without the trailing dot (RFC 1035 section 2.3.4)."""
DNS_LABEL_MAX = 63


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
    """The company behind the brand (not necessarily the one an EU customer contracts with: see below)."""
    headquarters: str
    """ISO 3166-1 alpha-2 country of that company's headquarters."""
    ultimate_parent: str
    parent_country: str
    parent_lei: str | None
    """The ultimate parent's LEI (ISO 17442), for B_05.01.0110; None where none could be sourced here."""
    eu_headquartered: bool
    law: str
    source: str
    """Where the company, headquarters and parent are stated."""
    eea_contracting_entity: str
    """The entity an EEA customer most likely contracts with: a hint for the register, never written as fact."""
    contracting_source: str

    @property
    def summary(self) -> str:
        """One line for reports: the company and its headquarters, the parent and its country."""
        return f"{self.company} ({self.headquarters}), parent {self.ultimate_parent} ({self.parent_country})"


_GLEIF = "LEI as recorded by GLEIF (https://search.gleif.org/#/record/{}); cross-checked here against public datasets"

LEGAL_HOMES: dict[Cloud, LegalHome] = {
    Cloud.AWS: LegalHome(
        provider="Amazon Web Services", company="Amazon Web Services, Inc.", headquarters="US",
        ultimate_parent="Amazon.com, Inc.", parent_country="US", parent_lei="ZXTILKJKG63JELOEG630",
        eu_headquartered=False,
        law="US company: subject to US law (CLOUD Act) for data it controls, in EU regions too",
        source="Amazon.com, Inc. Form 10-K (SEC Commission File No. 000-22513: Delaware, Seattle; AWS is its "
               "segment), https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany&CIK=0001018724&type=10-K; "
               + _GLEIF.format("ZXTILKJKG63JELOEG630"),
        eea_contracting_entity="Amazon Web Services EMEA SARL (LU), by the account's country",
        contracting_source="https://aws.amazon.com/legal/aws-contracting-party/",
    ),
    Cloud.AZURE: LegalHome(
        provider="Microsoft Azure", company="Microsoft Corporation", headquarters="US",
        ultimate_parent="Microsoft Corporation", parent_country="US", parent_lei="INR2EJN1ERAN0W5ZP974",
        eu_headquartered=False,
        law="US company: subject to US law (CLOUD Act) for data it controls, in EU regions too; the Act settled "
            "United States v. Microsoft over e-mails stored in Ireland",
        source="Microsoft Corporation Form 10-K (Washington; One Microsoft Way, Redmond), "
               "https://www.sec.gov/Archives/edgar/data/789019/000119312512316848/d347676d10k.htm; "
               + _GLEIF.format("INR2EJN1ERAN0W5ZP974"),
        eea_contracting_entity="Microsoft Ireland Operations Limited (IE), for many EEA online-services customers",
        contracting_source="the Microsoft Customer Agreement / Cloud Agreement of the subscription (a copy naming "
                           "this entity: http://go2azure.eu/legal/microsoft-customer-cloud-agreement/; "
                           "Microsoft's own page could not be read here)",
    ),
    Cloud.GCP: LegalHome(
        provider="Google Cloud", company="Google LLC", headquarters="US",
        ultimate_parent="Alphabet Inc.", parent_country="US", parent_lei="5493006MHB84DD0ZWV18",
        eu_headquartered=False,
        law="US company: subject to US law (CLOUD Act) for data it controls, in EU regions too",
        source="Alphabet Inc. Form 10-K 2019 (Delaware, Mountain View; Google its subsidiary), "
               "https://www.sec.gov/Archives/edgar/data/1652044/000165204420000008/goog10-k2019.htm; "
               + _GLEIF.format("5493006MHB84DD0ZWV18"),
        eea_contracting_entity="Google Cloud EMEA Limited (IE), by the billing address (not confirmed here)",
        contracting_source="https://cloud.google.com/terms/google-entity (Google's terms define \"Google\" there)",
    ),
    Cloud.SCALEWAY: LegalHome(
        provider="Scaleway", company="Scaleway SAS", headquarters="FR",
        ultimate_parent="iliad group", parent_country="FR", parent_lei=None,
        eu_headquartered=True,
        law="French company (RCS Paris 433 115 904), a subsidiary of the French iliad group: EU-headquartered "
            "(EU and French law)",
        source="https://www.scaleway.com/en/legal-notice/ (Scaleway SAS, 8 rue de la Ville l'Evêque, Paris, RCS "
               "Paris 433 115 904; read here only as quoted by sites it hosts, one of which calls it a subsidiary "
               "of the iliad group); \"Iliad's enterprise-focused edge cloud services division, Scaleway\" "
               "(https://www.telecomtv.com/content/digital-platforms-services/iliad-preps-european-datacentre-"
               "expansion-50532/); iliad S.A., 16 rue de la Ville l'Évêque, Paris (its 2024 Universal Registration "
               "Document, https://praquin.com/smartxhtml/iliad/urd/2024)",
        eea_contracting_entity="Scaleway SAS (FR)",
        contracting_source="https://www.scaleway.com/de/terms/ (the services SCALEWAY SAS provides)",
    ),
    Cloud.HETZNER: LegalHome(
        provider="Hetzner Cloud", company="Hetzner Online GmbH", headquarters="DE",
        ultimate_parent="Hetzner Online GmbH", parent_country="DE",
        parent_lei=None,
        eu_headquartered=True,
        law="German company (Hetzner Online GmbH, Gunzenhausen), privately held, no parent company named in its "
            "legal texts: EU-headquartered (EU and German law). Its ash and hil locations are in the US and sin in "
            "Singapore; which entity runs those was not sourced here",
        source="https://www.hetzner.com/legal/privacy-policy (the controller: Hetzner Online GmbH, Industriestr. 25, "
               "91710 Gunzenhausen, Germany; its legal notice is linked there); owner Martin Hetzner per "
               "https://www.falk-report.de/2024/09/hetzner-online-baut-silicon-valley/ (local press). No LEI "
               "could be sourced here",
        eea_contracting_entity="Hetzner Online GmbH (DE)",
        contracting_source="https://www.hetzner.com/legal/terms-and-conditions (its General Terms and Conditions, "
                           "as https://www.hetzner.com/legal/digital-services-act names them)",
    ),
    Cloud.OVHCLOUD: LegalHome(
        provider="OVHcloud", company="OVH SAS", headquarters="FR",
        ultimate_parent="OVH Groupe SA", parent_country="FR",
        parent_lei="9695001J8OSOVX4TP939",
        eu_headquartered=True,
        law="French company (OVH SAS, 2 rue Kellermann, 59100 Roubaix, RCS Lille Métropole 424 761 419), a "
            "subsidiary of OVH Groupe SA, listed in Paris: EU-headquartered (EU and French law). Its UK1 and BHS5 "
            "regions are in the UK and Canada, and its US regions to a US entity (the Canadian privacy policy, "
            "https://www.ovhcloud.com/en/terms-and-conditions/privacy-policy/, covers \"companies within the OVH "
            "Group, excluding entities located in the United States\"); the US regions are not offered by the kind",
        source="OVH SAS's Conditions Générales de Service (\"SAS OVH 2 rue Kellermann - 59100 Roubaix - France ... "
               "RCS Lille Métropole\"); OVH Groupe's Universal Registration Document 2022 "
               "(https://ovhcloud.fr.digital-report.net/en/report/78, history of the Group founded in Roubaix); the "
               "LEI is the entity identifier of OVH Groupe's ESEF filings in the AMF's open data "
               "(https://echanges.dila.gouv.fr/OPENDATA/AMF/, `ovhgroupe` taxonomy), not checked against GLEIF here",
        eea_contracting_entity="OVH SAS (FR) for France; other EEA customers may contract with their country's "
                               "OVH subsidiary: check the order form",
        contracting_source="OVH SAS's Conditions Générales de Service (the contracting party they name, as quoted "
                           "under `source`); OVHcloud's per-country `ovhSubsidiary` (\"ES\", \"FR\", ... in "
                           "https://www.ovhcloud.com/residential-countries/residential-countries.json)",
    ),
}  # fmt: skip
"""Only the `Cloud`s a stack can name (also as an endpoint's provider); other providers are not in this table."""
