"""One normalised record per resource, whatever produced it, with where each value came from.

Policies, `bascule plan` and drills read this model only. Region resolution lives here once; a value
that cannot be resolved is `unknown`, never guessed, because a guessed region would let a
single-region workload pass a concentration check.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from bascule import facts
from bascule.facts import Cloud
from bascule.io.heap import collector_paused
from bascule.spec import TAG_CRITICALITY, TAG_ROLE, TAG_SERVICE

if TYPE_CHECKING:  # the engine loads Pulumi; reading an export must not
    from bascule.offline.engine import OfflineRun

GLOBAL = "global"
AZURE_RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
UNKNOWN = "unknown"

_CLOUD_PREFIXES = {
    "aws": Cloud.AWS,
    "azure-native": Cloud.AZURE,
    "gcp": Cloud.GCP,
    "scaleway": Cloud.SCALEWAY,
    "hcloud": Cloud.HETZNER,
    "ovh": Cloud.OVHCLOUD,
}
CONFIG_REGION_KEYS = {
    Cloud.AWS: "aws:region",
    Cloud.AZURE: "azure-native:location",
    Cloud.GCP: "gcp:region",
    Cloud.SCALEWAY: "scaleway:region",
}
"""The stack config a provider takes its region from; Hetzner Cloud and OVHcloud have none (each resource names its
location or region)."""
_REGION_INPUTS = {
    Cloud.AWS: ("region",),
    Cloud.AZURE: ("location",),
    Cloud.GCP: ("region", "location", "zone"),
    Cloud.SCALEWAY: ("region", "zone"),
    Cloud.HETZNER: ("location",),
    Cloud.OVHCLOUD: ("region",),
}


@dataclass(frozen=True, slots=True)  # slots: an export holds up to 100,000 of them
class RawResource:
    """What every reader hands over: the resource as the engine or a state file describes it."""

    urn: str
    type: str
    custom: bool
    parent: str | None
    provider: str | None
    inputs: Mapping[str, Any]
    dependencies: tuple[str, ...] = ()
    """URNs of the resources it was built from (its inputs' sources and `depends_on`), as the engine records them."""


@dataclass(frozen=True, slots=True)  # slots: an export holds up to 100,000 of them
class Resource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    cloud: Cloud | None
    region: str
    region_source: str
    jurisdiction: facts.Jurisdiction | None
    tags: dict[str, str]
    service: str | None
    role: str | None
    criticality: str | None
    workload_source: str
    """`tag` when the resource carries Bascule's tags itself, `parent` when inherited, `none` otherwise."""
    props: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """The resource's inputs (or state), camelCase as the engine and state files spell them."""
    provider: str | None = None
    """URN of the provider it was created with (None: a component, or a default provider an offline run omits)."""
    dependencies: tuple[str, ...] = ()
    """URNs of the resources it was built from: a site built on a team's load balancer depends on it, so the load
    balancer's real region can be compared with the region the site declares (`bascule-site-region`)."""

    def as_json(self) -> dict[str, Any]:
        from bascule.offline.engine import redact_secrets  # loads Pulumi: only when inputs are shown

        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "cloud": self.cloud.value if self.cloud else None,
            "region": self.region,
            "region_source": self.region_source,
            "jurisdiction": self.jurisdiction.value if self.jurisdiction else None,
            "service": self.service,
            "role": self.role,
            "criticality": self.criticality,
            "workload_source": self.workload_source,
            "parent": self.parent,
            "inputs": redact_secrets(self.props),
        }


@dataclass
class Inventory:
    resources: list[Resource]
    config: dict[str, str] = field(default_factory=dict)
    declared: dict[str, str] = field(default_factory=dict)
    """URN -> `path:line` of the program line that declared it, for a program run offline (findings point there)."""

    @property
    def stack(self) -> str | None:
        """The Pulumi stack the resources belong to, read from a URN (`urn:pulumi:STACK::PROJECT::...`): a
        program's stack is its config file's name and an export's its own, neither the folder's nor the file's."""
        return next((owner[0] for owner in map(urn_owner, (r.urn for r in self.resources)) if owner), None)

    @property
    def project(self) -> str | None:
        """The Pulumi project the resources belong to (Pulumi.yaml's `name`), read from a URN as `stack` is."""
        return next((owner[1] for owner in map(urn_owner, (r.urn for r in self.resources)) if owner), None)

    def by_service(self) -> dict[str, list[Resource]]:
        grouped: dict[str, list[Resource]] = {}
        for r in self.resources:
            if r.service is not None:
                grouped.setdefault(r.service, []).append(r)
        return grouped


@functools.cache  # a stack has a few dozen types and up to 100,000 resources
def cloud_of(type_token: str) -> Cloud | None:
    package = type_token.split(":")[2] if type_token.startswith("pulumi:providers:") else type_token.split(":")[0]
    return _CLOUD_PREFIXES.get(package)


def urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def urn_owner(urn: str) -> tuple[str, str] | None:
    """(stack, project) of a URN (`urn:pulumi:STACK::PROJECT::TYPE::NAME`), None for anything else."""
    parts = urn.split("::")
    stack = parts[0].removeprefix("urn:pulumi:")
    return (stack, parts[1]) if len(parts) >= 4 and stack != parts[0] and stack and parts[1] else None


def resolve_region(
    cloud: Cloud | None,
    type_token: str,
    inputs: Mapping[str, Any],
    provider: RawResource | None,
    config: Mapping[str, str],
) -> tuple[str, str]:
    """Return (region, source). Order: global type, the resource's own input, its provider, stack config."""
    if cloud is None:
        return UNKNOWN, "not a cloud resource"
    if type_token.startswith(facts.GLOBAL_TYPE_PREFIXES):
        return GLOBAL, "global resource type"
    own = _own_region(cloud, inputs)
    if own == GLOBAL:
        return GLOBAL, "location 'global'"
    if own:
        return own, "resource input"
    if provider is not None:
        from_provider = _own_region(cloud, provider.inputs)
        if from_provider:
            return from_provider, f"provider {urn_name(provider.urn)}"
    # Zonal GCP resources without `zone` use the provider's (pulumi_gcp's own `zone` docs: "If it is not
    # provided, the provider zone is used"; https://pub.dev/documentation/pulumi_gcp/latest/compute/InstanceFromTemplate/zone.html).
    if cloud is Cloud.GCP and type_token in facts.GCP_ZONAL_TYPES and config.get("gcp:zone"):
        return _own_region(cloud, {"zone": config["gcp:zone"]}) or UNKNOWN, "stack config gcp:zone"
    key = CONFIG_REGION_KEYS.get(cloud)
    if key is not None and config.get(key):
        return _own_region(cloud, {_REGION_INPUTS[cloud][0]: config[key]}) or UNKNOWN, f"stack config {key}"
    return UNKNOWN, "no region input, provider region or stack config"


def _own_region(cloud: Cloud, inputs: Mapping[str, Any]) -> str | None:
    for key in _REGION_INPUTS[cloud]:
        value = inputs.get(key)
        if isinstance(value, str) and value:
            if cloud in (Cloud.AZURE, Cloud.GCP):  # both accept any case (`West Europe`, `EUROPE-WEST1`)
                value = value.replace(" ", "").lower()
            if key == "zone" and value.count("-") >= 2:
                value = value.rsplit("-", 1)[0]
            return value
    return None


def _declared(inputs: Mapping[str, Any]) -> tuple[Cloud | None, str, str]:
    """A bring-your-own site's location as its owner declared it in the spec (nothing to look up)."""
    try:
        cloud = Cloud(str(inputs.get("cloud")))
    except ValueError:
        return None, UNKNOWN, "bring-your-own endpoint without a declared cloud"
    region = inputs.get("region")
    if not isinstance(region, str) or not region:
        return cloud, UNKNOWN, "bring-your-own endpoint without a declared region"
    return cloud, region, "declared (bring-your-own endpoint)"


def _tags(cloud: Cloud | None, inputs: Mapping[str, Any]) -> dict[str, str]:
    raw = inputs.get("labels" if cloud in facts.LABELLED_CLOUDS else "tags")
    if isinstance(raw, list):  # Scaleway: tags are strings, Bascule writes them as key=value
        raw = dict(str(t).split("=", 1) for t in raw if "=" in str(t))
    if type(raw) is not dict and not isinstance(raw, Mapping):  # the exact type first: ABC checks are slow
        return {}
    tags = {str(k): str(v) for k, v in raw.items()}
    if cloud in facts.LABELLED_CLOUDS:  # labels cannot hold ':' so Bascule writes `bascule-service`; read them back
        tags.update({k.replace("bascule-", "bascule:", 1): v for k, v in tags.items() if k.startswith("bascule-")})
    return tags


@collector_paused(age=True)
def build(raw: Iterable[RawResource], config: Mapping[str, str] | None = None) -> Inventory:
    """Normalise resources in two linear passes: own values, then inheritance from parent components."""
    config = dict(config or {})
    items = list(raw)
    by_urn = {r.urn: r for r in items}
    clouds = [cloud_of(r.type) for r in items]
    own: dict[str, dict[str, str]] = {r.urn: _tags(cloud, r.inputs) for r, cloud in zip(items, clouds, strict=True)}

    # A component's workload is what all of its tagged descendants agree on.
    seen: dict[str, dict[str, set[str]]] = {}
    for r in items:
        tags = own[r.urn]
        if TAG_SERVICE not in tags:
            continue
        parent = r.parent
        while parent is not None and parent in by_urn:
            agg = seen.setdefault(parent, {TAG_SERVICE: set(), TAG_ROLE: set(), TAG_CRITICALITY: set()})
            for key in agg:
                if key in tags:
                    agg[key].add(tags[key])
            parent = by_urn[parent].parent

    def inherited(urn: str | None) -> dict[str, str]:
        while urn is not None and urn in by_urn:
            agg = seen.get(urn)
            if agg:
                return {k: next(iter(v)) for k, v in agg.items() if len(v) == 1}
            urn = by_urn[urn].parent
        return {}

    # azure-native resources without a location take their resource group's: the provider fills `location`
    # from the group (https://github.com/pulumi/pulumi-azure-native/issues/66, and its `autoLocation` in
    # https://github.com/pulumi/pulumi-azure-native/pull/654); stack config only names the group's own.
    groups: dict[str, RawResource] = {}
    for r in items:
        if r.type == AZURE_RESOURCE_GROUP:
            for name in (r.inputs.get("resourceGroupName"), r.inputs.get("name"), urn_name(r.urn)):
                if isinstance(name, str) and name:
                    groups.setdefault(name.lower(), r)

    resources = []
    for r, cloud in zip(items, clouds, strict=True):
        provider = by_urn.get(r.provider) if r.provider else None
        group = groups.get(str(r.inputs.get("resourceGroupName")).lower()) if cloud is Cloud.AZURE else None
        if group is not None and group is not r and not _own_region(Cloud.AZURE, r.inputs):
            group_provider = by_urn.get(group.provider) if group.provider else None
            region, source = resolve_region(cloud, group.type, group.inputs, group_provider, config)
            region_source = f"resource group {urn_name(group.urn)} ({source})"
        else:
            region, region_source = resolve_region(cloud, r.type, r.inputs, provider, config)
        if r.type in facts.DECLARED_SITES:
            cloud, region, region_source = _declared(r.inputs)
        tags = own[r.urn]
        if TAG_SERVICE in tags:
            workload, source = tags, "tag"
        else:
            workload = inherited(r.urn if not r.custom else r.parent)
            source = "parent" if workload else "none"
        known = facts.region(cloud, region) if cloud is not None else None
        resources.append(
            Resource(
                urn=r.urn,
                type=r.type,
                name=urn_name(r.urn),
                custom=r.custom,
                parent=r.parent,
                cloud=cloud,
                region=region,
                region_source=region_source,
                jurisdiction=known.jurisdiction if known else None,
                tags=tags,
                service=workload.get(TAG_SERVICE),
                role=workload.get(TAG_ROLE),
                criticality=workload.get(TAG_CRITICALITY),
                workload_source=source,
                props=r.inputs,
                provider=r.provider,
                dependencies=r.dependencies,
            )
        )
    return Inventory(_sites_where_built(resources), config)


def from_offline_run(run: OfflineRun) -> Inventory:
    """Inputs over outputs, as the export reader merges them, so both paths see the same properties."""
    inventory = build(
        (
            RawResource(r.urn, r.type, r.custom, r.parent, r.provider, {**r.outputs, **r.inputs}, r.dependencies)
            for r in run.resources
        ),
        run.config,
    )
    inventory.declared = {r.urn: r.source for r in run.resources if r.source}
    return inventory


def children_of(resources: Iterable[Resource]) -> dict[str, list[Resource]]:
    """Parent URN -> its direct children."""
    children: dict[str, list[Resource]] = {}
    for r in resources:
        if r.parent is not None:
            children.setdefault(r.parent, []).append(r)
    return children


def descendants(urn: str, children: Mapping[str, list[Resource]]) -> list[Resource]:
    """Every resource under `urn` (children, their children, ...), from a `children_of` map: what a component such
    as a declared site adds where it runs (a drill's listener rule), whatever its depth."""
    found, stack = [], list(children.get(urn, []))
    while stack:
        r = stack.pop()
        found.append(r)
        stack += children.get(r.urn, [])
    return found


def built_on(site: Resource, by_urn: Mapping[str, Resource], children: Mapping[str, list[Resource]]) -> list[Resource]:
    """The resources that fix a declared site's region (`facts.SITE_REGION_TYPES`) among what the site and
    everything under it were built from (their inputs' sources): the team's load balancer, listener or address it
    names. Only those: a site also depends on resources that are elsewhere without moving it (a Global Accelerator
    whose provider is in us-west-2, a certificate), and counting them would place it where it does not run."""
    return [by_urn[d] for r in (site, *descendants(site.urn, children)) for d in r.dependencies
            if d in by_urn and by_urn[d].type in facts.SITE_REGION_TYPES]  # fmt: skip


def _sites_where_built(resources: list[Resource]) -> list[Resource]:
    """A site that declares its region (DECLARED_SITES) is where the resources of its cloud it is built on are, when
    they agree on one region: the spec's word is kept in its props (`region`) and its source, and the policies'
    `bascule-site-region` refuses the difference. Inventories, audits and every region rule then see the real place."""
    declared = [r for r in resources if r.type in facts.DECLARED_SITES and r.cloud is not None]
    if not declared:
        return resources
    by_urn = {r.urn: r for r in resources}
    children = children_of(resources)
    moved: dict[str, Resource] = {}
    for site in declared:
        found = {r.region: r for r in built_on(site, by_urn, children)
                 if r.cloud is site.cloud and r.region not in (GLOBAL, UNKNOWN)}  # fmt: skip
        if len(found) != 1 or site.region in found:
            continue
        ((region, source),) = found.items()
        known = facts.region(source.cloud, region) if source.cloud is not None else None
        moved[site.urn] = replace(
            site,
            region=region,
            region_source=f"{source.type} '{source.name}' it is built on ({source.region_source}); its spec declares "
            f"{site.region}",
            jurisdiction=known.jurisdiction if known else None,
        )
    return [moved.get(r.urn, r) for r in resources]
