"""The offline engine: run a Pulumi program in-process, with no CLI and no cloud, and record its resources.

It is the only module that knows about Pulumi mocks. Two semantics, measured on real programs (see
benchmarks/real_programs.py and the README): `up` answers like a provider would on create, with every
output a provider computes filled by a typed stand-in read from the SDK class's `Output[T]` annotations,
so `apply` chains run to the end and every child resource is registered; `preview` leaves computed
outputs unknown, as `pulumi preview` does, so resources created inside `apply` are not seen. Values that
only a real cloud knows are plausible stand-ins, never used as facts.
"""

from __future__ import annotations

import asyncio
import binascii
import concurrent.futures
import contextvars
import hashlib
import json
import os
import re
import runpy
import sys
import sysconfig
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

import pulumi
import pulumi.resource as pulumi_resource
from google.protobuf import empty_pb2, struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2, source_pb2

from bascule.facts import GLOBAL_TYPE_PREFIXES, OFFLINE_AZURE_TOKEN
from bascule.io.documents import InputError, read_yaml
from bascule.io.escaping import quoted
from bascule.io.heap import collector_paused
from bascule.offline import placeholders
from bascule.offline.placeholders import ACCOUNT_ID, ZERO_GUID, Namer
from bascule.offline.types import FailureKind, OfflineRun, ProgramError, RegisteredResource, Semantics
from bascule.spec.base import SpecValueError

__all__ = ["FailureKind", "OfflineRun", "ProgramError", "RegisteredResource", "Semantics", "run_offline"]

DEFAULT_TIMEOUT = 120.0
"""Seconds a program may run offline before the watchdog calls it a hang (real programs take seconds)."""
DEFAULT_MAX_RESOURCES = 5000
"""Resources one offline run may register before it is stopped. Measured: about 3.5 ms and 0.17 MiB per resource
(10,000 plain buckets: 35 s, 1.7 GiB), so 100,000 would outlive the watchdog and exhaust a CI runner; the largest
stack file Bascule takes (100 services, `MAX_SERVICES_PER_STACK`) registers 3,710. `MAX_RESOURCES_ENV` raises it."""
MAX_RESOURCES_ENV = "BASCULE_MAX_RESOURCES"
STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"
_SECURE_PLACEHOLDER = "offline-secret"


def _region_of(provider_inputs: Mapping[str, Any] | None, config: Mapping[str, str], key: str, default: str) -> str:
    if provider_inputs and isinstance(provider_inputs.get(key), str):
        return str(provider_inputs[key])
    return config.get(f"{_PACKAGE_CONFIG.get(key, 'aws')}:{key}", default)


_PACKAGE_CONFIG = {"region": "aws", "location": "azure-native"}


class _CloudMocks(pulumi_mocks.Mocks):
    """Answers for resources and invokes: the program's inputs, plus stand-ins for what a provider computes."""

    def __init__(
        self, config: Mapping[str, str], semantics: Semantics, stack_references: Mapping[str, Mapping[str, Any]]
    ):
        self.config = config
        self.semantics = semantics
        self.stack_references = stack_references
        self.providers: dict[str, dict[str, Any]] = {}
        self.resource_groups: dict[str, str] = {}
        """Azure resource group name -> its location: azure-native resources without one inherit it."""
        self.warnings: list[str] = []
        self.unanswered: list[str] = []
        """StackReferences the program read whose outputs were not given: a failure then is likely theirs."""

    def provider_inputs(self, ref: str | None) -> dict[str, Any] | None:
        return self.providers.get(ref.rsplit("::", 1)[0]) if ref else None

    def region(self, typ: str, provider: str | None, inputs: Mapping[str, Any]) -> str:
        """Where the provider would put the resource; empty when nothing says (never a guessed default)."""
        package = typ.split(":")[0]
        provider_inputs = self.provider_inputs(provider)
        if package == "azure-native":  # the group's location, as the provider fills it (pulumi-azure-native#66)
            group = self.resource_groups.get(str(inputs.get("resourceGroupName")))
            own = inputs.get("location")
            return str(own) if isinstance(own, str) else group or _region_of(
                provider_inputs, self.config, "location", "")  # fmt: skip
        if package == "gcp":
            return str(inputs.get("region") or (provider_inputs or {}).get("region")
                       or self.config.get("gcp:region", ""))  # fmt: skip
        if package == "scaleway":  # a zoned resource's region is its zone's ("fr-par-1" -> "fr-par")
            zone = inputs.get("zone")
            zone_region = zone.rsplit("-", 1)[0] if isinstance(zone, str) and zone.count("-") >= 2 else None
            return str(inputs.get("region") or zone_region or self.config.get("scaleway:region", "fr-par"))
        if package == "hcloud":  # each resource names its location; the provider has no default one
            return str(inputs.get("location") or "")
        return str(inputs.get("region") or _region_of(provider_inputs, self.config, "region", ""))

    def new_resource(
        self, args: pulumi_mocks.MockResourceArgs, remote: bool = False, urn: str = ""
    ) -> tuple[str | None, dict[str, Any]]:
        """A local component's state is its inputs; a remote component's (awsx) is what its provider returns. `urn`
        (which `MockResourceArgs` lacks) tells apart two resources of one name under different parents."""
        inputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-id", inputs
        if args.typ == STACK_REFERENCE_TYPE:
            return args.name, self._stack_reference(str(inputs.get("name") or args.name))
        region = self.region(args.typ, args.provider, inputs)
        if args.typ == "azure-native:resources:ResourceGroup":
            self.resource_groups[str(inputs.get("resourceGroupName") or args.name)] = region
        # What the resource's provider would put in its id: an explicit provider's own settings, else the default
        # provider's, which are the stack's config (`gcp:project`, `azure-native:subscriptionId`).
        explicit = self.provider_inputs(args.provider)
        project = inputs.get("project") or (explicit or {}).get("project")
        subscription = (explicit or {}).get("subscriptionId") if explicit is not None else self.config.get(
            "azure-native:subscriptionId")  # fmt: skip
        rid = _provider_id(
            args.typ, args.name, inputs, region, str(project or self.config.get("gcp:project", "offline-project")),
            str(subscription or ZERO_GUID),
        )  # fmt: skip
        state = {} if remote else dict(inputs)
        cls = placeholders.resource_class(args.typ)
        zone = str(inputs.get("zone") or self.config.get("gcp:zone", "")) if args.typ.startswith("gcp:") else ""
        namer = Namer(args.name, args.typ, region, zone)
        if self.semantics is Semantics.PREVIEW:
            # Inputs come back; one the provider returns in another shape (a list as a map) is unknown instead.
            filled = placeholders.resource_outputs(cls, namer, state) if cls is not None else {}
            known = {k: v for k, v in state.items() if k not in filled}
            return ("" if args.resource_id is None else rid), known
        if cls is not None:
            state.update(placeholders.resource_outputs(cls, namer, state))
        if (
            args.typ.startswith("gcp:")
            and "project" in state
            and not inputs.get("project")
            and (explicit is None or explicit.get("project"))
        ):
            # pulumi-gcp fills `project` from the provider when the program names none ("If it is not provided, the
            # provider project is used", `project` in pulumi_gcp/dns/record_set.py and the other
            # classes): the project the id above names, not a stand-in. An explicit provider naming none takes it
            # from its environment (`GOOGLE_PROJECT`, pulumi_gcp/provider.py), not the stack's `gcp:project`
            # (explicit providers do not read stack config): that stays a stand-in, which names no real project.
            state["project"] = str(project or self.config.get("gcp:project", "offline-project"))
        state.update(_computed(args.typ, args.name, inputs, region, urn or args.name))
        return rid, state

    def _stack_reference(self, name: str) -> dict[str, Any]:
        """The outputs given for `name`; without them each output reads as None under `up` (as a missing output
        does under `pulumi up`) and as unknown under `preview`, so checks waiting on its value are skipped there."""
        outputs = self.stack_references.get(name)
        if outputs is None:
            self.unanswered.append(name)
            self.warnings.append(
                f"StackReference '{name}': its outputs are not available offline, so every output reads as "
                f"{'unknown' if self.semantics is Semantics.PREVIEW else 'None'}; give them with "
                f"{stack_reference_flag(name)} (the output of `pulumi stack output --json`)"
            )
            if self.semantics is Semantics.PREVIEW:
                return {"name": name, "secretOutputNames": []}
        return {"name": name, "outputs": dict(outputs or {}), "secretOutputNames": []}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # pulumi-aws 7's invokes take their own `region`, before the provider's.
        own = args.args.get("region")
        region = own if isinstance(own, str) and own else _region_of(
            self.provider_inputs(args.provider), self.config, "region", "us-east-1")  # fmt: skip
        token = args.token
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"{region[:3]}-az{i}" for i in range(1, 4)], "id": region}, []
        if token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region}, []
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline",
                    "userId": "AIDAOFFLINE", "id": ACCOUNT_ID}, []  # fmt: skip
        if token == "aws:route53/getZone:getZone":
            name = str(args.args.get("name", "example.com"))
            given, asked = args.args.get("zoneId"), (name.rstrip(".").lower(), args.args.get("privateZone"),
                                                      args.args.get("vpcId"))  # fmt: skip
            zone_id = str(given) if isinstance(given, str) and given else hosted_zone_id(f"lookup:{asked}")
            return {"name": name, "zoneId": zone_id, "id": zone_id}, []
        if token == "aws:lb/getLoadBalancer:getLoadBalancer":
            # An existing load balancer looked up by ARN (an 'aws-alb' site): its name and region from the ARN
            # (`...:<region>:<account>:loadbalancer/app/<name>/<id>`), DNS name and canonical zone id made up in
            # their real shapes.
            arn = str(args.args.get("arn") or "")
            parts, path = arn.split(":"), arn.split("/")
            lb_region = parts[3] if len(parts) > 5 else region
            lb_name = path[-2] if len(path) > 3 else "offline"
            return {"arn": arn, "name": lb_name, "loadBalancerType": "application", "zoneId": "Z0ALB00000000000000",
                    "dnsName": f"{lb_name}-1234567890.{lb_region}.elb.amazonaws.com", "id": arn}, []  # fmt: skip
        if token in _OVH_CATALOGUES:
            # A Public Cloud region's catalogue, listed by name (the 'ovhcloud' site resolves its flavor and image
            # by name): canned names in the API's shape, each with a stable id.
            field, offered = _OVH_CATALOGUES[token]
            entries = [{"id": f"{field}-{n.lower().replace(' ', '-')}", "name": n} for n in offered]
            return {field: entries, "region": args.args.get("region"), "id": token}, []
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": _policy_document(args.args), "id": "policy-document"}, []
        if token == "gcp:organizations/getClientConfig:getClientConfig":
            return {"project": self.config.get("gcp:project", "offline-project"), "region": self.config.get(
                "gcp:region", "us-central1"), "zone": self.config.get("gcp:zone", ""), "accessToken": "offline",
                "id": "offline"}, []  # fmt: skip
        if token == "azure-native:authorization:getClientToken":
            # No Azure login offline, so no token: what would call Azure's REST API with one (the Azure site's
            # reading of the AzureFrontDoor.Backend service tag) takes its offline stand-in instead of a network call.
            return {"token": OFFLINE_AZURE_TOKEN}, []
        result = placeholders.invoke_result_class(token)
        if result is None:
            return {}, []
        name = token.rsplit(":", 1)[-1]
        if token.startswith("azure-native:"):
            region = self.config.get("azure-native:location", "westeurope")
        filled = placeholders.output_type_value(result, Namer(str(args.args.get("name") or name), token, region))
        # Arguments the result repeats (`name`, `mostRecent`) come back as given, when of the result's type.
        echoed = {k: v for k, v in args.args.items() if k in filled and isinstance(v, type(filled[k]))}
        return {**filled, **echoed}, []


def _policy_document(args: Mapping[str, Any]) -> str:
    """The IAM JSON a `get_policy_document` call renders: its statements, AWS's key names, nothing invented."""
    keys = {"sid": "Sid", "effect": "Effect", "actions": "Action", "notActions": "NotAction", "resources": "Resource",
            "notResources": "NotResource"}  # fmt: skip
    statements = []
    for st in args.get("statements") or []:
        doc = {aws_key: st[key] for key, aws_key in keys.items() if st.get(key) is not None}
        doc.setdefault("Effect", "Allow")
        for kind, aws_key in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            for principal in st.get(kind) or []:
                doc.setdefault(aws_key, {})[principal.get("type", "AWS")] = principal.get("identifiers")
        for condition in st.get("conditions") or []:
            doc.setdefault("Condition", {}).setdefault(condition.get("test"), {})[condition.get("variable")] = (
                condition.get("values")
            )
        statements.append(doc)
    return json.dumps({"Version": args.get("version") or "2012-10-17", "Statement": statements})


def _lower_camel(kind: str) -> str:
    """`URLMap` -> `urlMap`, `NetworkEndpointGroup` -> `networkEndpointGroup`: how resource paths spell types."""
    return re.sub(r"^[A-Z]+?(?=[A-Z][a-z]|$)|^[A-Z]", lambda m: m.group(0).lower(), kind)


def _plural(word: str) -> str:
    return f"{word}es" if word.endswith("s") else f"{word}s"


def _provider_id(
    typ: str, name: str, inputs: Mapping[str, Any], region: str, project: str, subscription_id: str
) -> str:
    """An id shaped like the provider's: ARM ids on Azure, `projects/...` paths on GCP, names elsewhere."""
    package, module, kind = [*typ.split(":"), "", ""][:3]
    if package == "azure-native":
        subscription = f"/subscriptions/{subscription_id}"
        if typ == "azure-native:resources:ResourceGroup":
            return f"{subscription}/resourceGroups/{inputs.get('resourceGroupName') or name}"
        group = inputs.get("resourceGroupName") or "offline-rg"
        collection = _plural(_lower_camel(kind))
        return f"{subscription}/resourceGroups/{group}/providers/Microsoft.{module.capitalize()}/{collection}/{name}"
    if package == "gcp":
        # Shapes from the provider's import formats: compute splits global/regional/zonal, others use locations.
        collection = _plural(_lower_camel(re.sub(r"^(Region|Global)(?=[A-Z])", "", kind)))
        where = f"locations/{region}"
        if module.startswith("compute/"):
            zone = inputs.get("zone")
            where = (
                "global" if typ.startswith(GLOBAL_TYPE_PREFIXES) else f"zones/{zone}" if zone else f"regions/{region}"
            )
        return f"projects/{project}/{where}/{collection}/{inputs.get('name') or name}"
    if package == "hcloud":
        # Hetzner Cloud ids are integers, and programs convert them (`load_balancer.id.apply(int)`, the SDK's own
        # examples): a stable number per resource name.
        return str(int(hashlib.sha256(f"{typ}::{name}".encode()).hexdigest()[:8], 16))
    return f"{name}-id"


_OVH_CATALOGUES = {
    "ovh:index/getCloudInstanceFlavors:getCloudInstanceFlavors": (
        "flavors", ("b3-8", "b3-16", "b3-32", "c3-4", "c3-8", "c3-16", "d2-2", "d2-4", "d2-8", "r3-16", "r3-32")),
    "ovh:index/getCloudInstanceImages:getCloudInstanceImages": ("images", ("Debian 12", "Ubuntu 24.04")),
}  # fmt: skip
"""OVHcloud Public Cloud catalogues the offline engine answers: invoke token -> (result field, names offered)."""


def hosted_zone_id(key: str) -> str:
    """A Route 53 hosted zone id stand-in, one per zone (a Zone resource by its URN, a lookup by what it asks for):
    records of one zone share it and records of two zones never do, so a check comparing zones (two records for one
    name in one zone) sees what a real stack would. Shape of a real id: 'Z' and upper-case letters and digits."""
    return "Z" + hashlib.sha256(key.encode()).hexdigest()[:19].upper()


def _computed(typ: str, name: str, inputs: Mapping[str, Any], region: str, urn: str) -> dict[str, Any]:
    """Outputs a provider computes on create, for the types whose outputs components read (`urn`: the resource's own,
    for what must differ between two resources of one name, a hosted zone's id)."""
    out: dict[str, Any] = {}
    if typ.startswith("aws:"):
        service = typ.split(":")[1].split("/")[0]
        out["arn"] = f"arn:aws:{service}:{region}:123456789012:{name}"
    if typ == "aws:lb/loadBalancer:LoadBalancer":
        out["dnsName"] = f"{name}-1234567890.{region}.elb.amazonaws.com"
        out["zoneId"] = "Z3Q77PNBQS71R4"
    elif typ == "aws:acm/certificate:Certificate":
        domain = inputs.get("domainName", "example.com")
        out["domainValidationOptions"] = [
            {
                "domainName": domain,
                "resourceRecordName": f"_3f1d.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": "_9c2e.acm-validations.aws.",
            }
        ]
    elif typ == "aws:acm/certificateValidation:CertificateValidation":
        out["certificateArn"] = inputs.get("certificateArn")
    elif typ == "hcloud:index/loadBalancer:LoadBalancer":
        out["ipv4"] = "203.0.113.30"  # a documentation address (RFC 5737), as the GCP site's stand-in
        out["ipv6"] = "2001:db8::30"
    elif typ == "ovh:index/cloudFloatingIp:CloudFloatingIp":
        out["currentState"] = {"ip": "203.0.113.30"}  # a documentation address (RFC 5737), as Hetzner's stand-in
    elif typ == "ovh:index/cloudKeyManagerSecret:CloudKeyManagerSecret":
        # The Barbican reference a listener's `default_tls_container_ref` takes, in the provider docs' example shape.
        out["currentState"] = {"secretRef": f"https://key-manager.cloud.ovh.net/v1/secrets/{name}-id"}
    elif typ == "ovh:index/cloudInstance:CloudInstance":
        # Each private interface gets a FIXED address from its subnet's IPAM, stable per resource name.
        host = 10 + int(hashlib.sha256(name.encode()).hexdigest()[:4], 16) % 200
        out["currentState"] = {
            "networks": [
                {
                    "id": n.get("networkId"),
                    "subnetId": n.get("subnetId"),
                    "addresses": [{"ip": f"10.0.1.{host}", "type": "FIXED", "version": 4}],
                }
                for n in inputs.get("networks") or []
                if isinstance(n, dict) and n.get("networkId")
            ]
        }
    elif typ == "scaleway:loadbalancers/ip:Ip":
        out["ipAddress"] = "203.0.113.40"  # a documentation address (RFC 5737)
    elif typ == "scaleway:instance/server:Server":  # IPAM's addresses on the Private Network, IPv4 and IPv6
        host = 2 + sum(map(ord, name)) % 250  # distinct for servers whose names differ in their last character
        out["privateIps"] = [{"id": f"{name}-ipv6", "address": f"fd5f:519c:6d46:2728::{host:x}"},
                             {"id": f"{name}-ipv4", "address": f"172.16.0.{host}"}]  # fmt: skip
    elif typ == "scaleway:containers/container:Container":
        out["publicEndpoint"] = f"https://{name}-x7k2.functions.fnc.{inputs.get('region', 'fr-par')}.scw.cloud"
    elif typ.startswith("gcp:"):
        out["name"] = inputs.get("name", name)  # auto-naming when none is given
        if typ == "gcp:compute/globalAddress:GlobalAddress":
            out["address"] = "203.0.113.10"
        elif typ == "gcp:dns/managedZone:ManagedZone":
            out["nameServers"] = [f"ns-cloud-a{i}.googledomains.com." for i in range(1, 5)]

        elif typ == "gcp:certificatemanager/dnsAuthorization:DnsAuthorization":
            domain = str(inputs.get("domain", "example.com"))
            # FIXED_RECORD writes `_acme-challenge.<host>`, PER_PROJECT_RECORD a name with a per-project id.
            label = (
                "_acme-challenge_6wvc2ga4536h76mg" if inputs.get("type") == "PER_PROJECT_RECORD" else "_acme-challenge"
            )
            out["dnsResourceRecords"] = [
                {"name": f"{label}.{domain}.", "type": "CNAME",
                 "data": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.4.authorize.certificatemanager.goog."}
            ]  # fmt: skip
    elif typ == "aws:route53/record:Record":
        out["fqdn"] = str(inputs.get("name", "")).rstrip(".")
    elif typ == "aws:route53/zone:Zone":
        out["zoneId"] = hosted_zone_id(f"zone:{urn}")
        out["nameServers"] = [f"ns-{i}.awsdns-0{i}.org" for i in range(1, 5)]
    elif typ in ("aws:iam/role:Role", "aws:cloudwatch/logGroup:LogGroup", "aws:ecs/cluster:Cluster"):
        out["name"] = name
    elif typ.startswith("azure-native:"):
        kind = typ.rsplit(":", 1)[-1]
        # An explicit name input (`resourceGroupName` on a group, `<kind>Name` elsewhere) is the resource's name.
        own = (
            "resourceGroupName"
            if typ == "azure-native:resources:ResourceGroup"
            else f"{kind[:1].lower()}{kind[1:]}Name"
        )
        out["name"] = inputs.get(own) or inputs.get("resourceName") or name
        identity = inputs.get("identity")
        if isinstance(identity, dict) and "SystemAssigned" in str(identity.get("type", "")):
            # Azure fills in the system-assigned identity's ids; made-up ones in their real (GUID) shape.
            out["identity"] = {**identity, "principalId": "00000000-0000-4000-8000-0000000000a1",
                               "tenantId": "00000000-0000-4000-8000-0000000000f1"}  # fmt: skip
        if typ == "azure-native:network:PublicIPAddress" and inputs.get("publicIPAllocationMethod") == "Static":
            out.setdefault("ipAddress", inputs.get("ipAddress") or "198.51.100.20")  # a documentation address
        elif typ == "azure-native:app:ManagedEnvironment":
            out["defaultDomain"] = f"{name}.{inputs.get('location', 'westeurope')}.azurecontainerapps.io"
            out["customDomainConfiguration"] = {"customDomainVerificationId": "0F1E2D3C4B5A69788796A5B4C3D2E1F0"}
        elif typ == "azure-native:trafficmanager:Profile":
            dns_config = dict(inputs.get("dnsConfig") or {})
            dns_config["fqdn"] = f"{dns_config.get('relativeName', name)}.trafficmanager.net"
            out["dnsConfig"] = dns_config
        elif typ == "azure-native:dns:Zone":
            out["nameServers"] = [f"ns{i}-01.azure-dns.com" for i in range(1, 5)]
        elif typ == "azure-native:cdn:AFDEndpoint":
            out["hostName"] = f"{name}-d4e5f6a7b8c9d0e1.z01.azurefd.net"
        elif typ == "azure-native:keyvault:Vault":  # the data-plane URI Azure gives the vault, in its real shape
            properties = dict(inputs.get("properties") or {})
            properties["vaultUri"] = f"https://{out['name']}.vault.azure.net/"
            out["properties"] = properties
    return out


_REFERENCES_FEATURE = "resourceReferences"


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, with what `MockResourceArgs` drops kept (parent, provider, custom) and three fixes.

    Inputs are deserialized once, here, on the monitor's thread: the SDK's monitor did it a second time
    and rebuilt every referenced resource (`role=some_role`) on another event loop, which hung the run or
    failed with "Future attached to a different loop". Resource references are declined, as an engine
    does for a provider that does not take them, so a referenced resource arrives as its id (custom) or
    URN (component). URNs carry the full parent type chain, as the real engine writes them.
    """

    def __init__(self, mocks: _CloudMocks):
        super().__init__(mocks)
        self.cloud_mocks = mocks
        self.recorded: list[RegisteredResource] = []
        self.types: dict[str, str] = {}
        """URN -> qualified type (`Parent$Child`), so a child's URN is built from its parent's in O(1)."""
        self.by_urn: dict[str, RegisteredResource] = {}
        self.paths: dict[str, str] = {}
        """Source file URI -> path, once per file."""

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        qualified = type_
        parent_type = self.types.get(parent) if parent else None
        if parent_type is not None and parent_type != STACK_TYPE:
            qualified = f"{parent_type}${type_}"
        urn = f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{qualified}::{name}"
        self.types[urn] = qualified
        return urn

    def SupportsFeature(self, request: Any) -> Any:
        response = super().SupportsFeature(request)  # type: ignore[no-untyped-call]
        if request.id == _REFERENCES_FEATURE:
            response.hasSupport = False
        return response

    def GetDeploymentInfo(self, request: Any) -> Any:
        info = super().GetDeploymentInfo(request)  # type: ignore[no-untyped-call]
        kept = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=kept)

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        inputs = _plain(_with_nested_secrets(request.object))
        provider_urn = request.provider.rsplit("::", 1)[0] if request.provider else None
        args = pulumi_mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId or None,
            custom=bool(request.custom),
        )
        rid, state = self.cloud_mocks.new_resource(args, remote=bool(getattr(request, "remote", False)), urn=urn)
        if request.type.startswith("pulumi:providers:"):
            self.cloud_mocks.providers[urn] = dict(inputs)
        if getattr(request, "remote", False):
            self.cloud_mocks.warnings.append(
                f"{request.type} '{request.name}' is a remote component: its children are created by its provider "
                "plugin and are not visible offline; only its outputs are stand-ins"
            )
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, rid or "", state)
        self.by_urn[urn] = record = RegisteredResource(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            provider=provider_urn,
            inputs=inputs,
            outputs=dict(state),  # a component's is replaced by what it registers
            id=rid or "",
            dependencies=tuple(request.dependencies),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=tuple(request.ignoreChanges),
            source=self._source(request),
        )
        self.recorded.append(record)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=rid or "", object=_struct(state))

    def _source(self, request: Any) -> str | None:
        """`path:line` of the request's `sourcePosition` (see `_program_positions`), if it has one."""
        if not request.HasField("sourcePosition") or not request.sourcePosition.uri:
            return None
        uri = request.sourcePosition.uri
        path = self.paths.get(uri)
        if path is None:
            path = self.paths[uri] = unquote(urlsplit(uri).path)
        return f"{path}:{request.sourcePosition.line}"

    def RegisterResourceOutputs(self, request: Any) -> Any:
        """A component's `register_outputs` becomes its recorded outputs, as the engine stores them in the state
        (secrets keep Pulumi's wrapper, as recorded inputs do)."""
        record = self.by_urn.get(request.urn)
        if record is not None and not record.custom:
            record.outputs.clear()
            record.outputs.update(_plain(_with_nested_secrets(request.outputs)))
        return empty_pb2.Empty()

    def ReadResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        state = _plain(rpc.deserialize_properties(request.properties))
        args = pulumi_mocks.MockResourceArgs(
            typ=request.type, name=request.name, inputs=state, provider=request.provider, resource_id=request.id
        )
        rid, outputs = self.cloud_mocks.new_resource(args, urn=urn)
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, rid or "", outputs)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=_struct(outputs))

    def Invoke(self, request: Any) -> Any:
        if request.tok == "pulumi:pulumi:getResource":
            return super().Invoke(request)  # type: ignore[no-untyped-call]
        args = _plain(rpc.deserialize_properties(request.args))
        ret, _failures = self.cloud_mocks.call(pulumi_mocks.MockCallArgs(request.tok, args, request.provider))
        return resource_pb2.ResourceInvokeResponse(**{"return": _struct(ret)})


def _with_nested_secrets(value: Any) -> Any:
    """`rpc.deserialize_properties`, except that a secret inside an object or a list stays marked where it is, as the
    Pulumi engine keeps it in the state: the SDK lifts the mark to the top-level property (a program "can only set
    secret outputs on top level properties"), which would record a whole container app configuration as secret for
    one secret value in it."""
    if isinstance(value, struct_pb2.Struct):
        sig = value.fields.get(rpc._special_sig_key)
        if sig is None:
            return {k: v for k, v in ((k, _with_nested_secrets(v)) for k, v in value.items()) if v is not None}
        if sig.string_value == rpc._special_secret_sig:
            return {rpc._special_sig_key: rpc._special_secret_sig, "value": _with_nested_secrets(value["value"])}
    elif isinstance(value, struct_pb2.ListValue):
        return [_with_nested_secrets(v) for v in value]
    return rpc.deserialize_property(value)  # a scalar, unknown, asset, archive or resource reference


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    """JSON-shaped values straight into protobuf: no Outputs or resources remain, so no async serializer."""
    message = struct_pb2.Struct()
    message.update(value)
    return message


REDACTED = "[secret]"


def redact_secrets(value: Any) -> Any:
    """Replace every secret Pulumi wrapped on the wire (`{<sig key>: <secret sig>, "value": ...}`) by a marker.

    Recorded inputs keep Pulumi's secret wrapper, so what is secret is known exactly, not guessed from key names.
    """
    if isinstance(value, Mapping):
        if value.get(pulumi.runtime.rpc._special_sig_key) == pulumi.runtime.rpc._special_secret_sig:
            return REDACTED
        return {k: redact_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Make values JSON-shaped (no resource references, enum objects or unknowns) for mocks and reports."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str(value)
    if type(value).__name__ == "Unknown":
        return None
    return str(value)


def config_strings(config: Mapping[str, Any], warnings: list[str] | None = None) -> dict[str, str]:
    """Pulumi hands structured config to programs as JSON strings; plain strings stay as they are.

    An encrypted value (`secure: ...`) cannot be decrypted without the stack's secrets provider: the
    program gets a recognisable stand-in, and a warning says which key.
    """
    strings = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            if warnings is not None:
                warnings.append(f"config {key} is encrypted (secure:); offline it reads as '{_SECURE_PLACEHOLDER}'")
            strings[key] = _SECURE_PLACEHOLDER
        else:
            strings[key] = value if isinstance(value, str) else json.dumps(value)
    return strings


def resource_limit() -> int:
    """The resources one run may register: `MAX_RESOURCES_ENV` when set (a whole number, at least 1), else the
    default; a bad value is a `ProgramError` naming the variable."""
    raw = os.environ.get(MAX_RESOURCES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_RESOURCES
    if not raw.isdigit() or int(raw) < 1:
        raise ProgramError(f"{MAX_RESOURCES_ENV}={quoted(raw)}: not a whole number of resources (at least 1)",
                           FailureKind.LIMIT)  # fmt: skip
    return int(raw)


class _ResourceLimitReached(BaseException):
    """Raised into the program at the registration past the limit. A BaseException, as KeyboardInterrupt is, so
    a program's `except Exception` around a resource does not swallow it and loop on."""


class _ProgramExited(BaseException):
    """`os._exit(code)` called by the program: raised instead of ending this process with the program's code (an
    exit 0 would read as a pass with no resources)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


@dataclass
class _Containment:
    """What the program did that the run must answer for: registrations counted, the limit passed, an exit."""

    limit: int
    registered: int = 0
    over_limit: bool = False


@contextmanager
def _contained(containment: _Containment) -> Iterator[None]:
    """The program runs in this process, so what it does to the process is held for the run:

    - stdin is /dev/null (Python's `sys.stdin` and descriptor 0): a program waiting for input gets EOF at once and
      fails with a message, instead of blocking until the watchdog and aborting the interpreter at exit;
    - what it prints goes to stderr (`sys.stdout` and descriptor 1): stdout carries the command's result alone, so
      `check -f json` stays one JSON document;
    - `os._exit` raises instead of ending the process: the run ends as a failure that names the exit;
    - each registration is counted as the resource's constructor asks the SDK to register it (synchronously, in
      the program's own call, before the SDK creates anything for it), and the one past `limit` raises into the
      program; if an SDK release renames that function, the limit goes, and the watchdog still ends the run.
    Restored after the run.
    """
    original_register = getattr(pulumi_resource, "register_resource", None)
    original_exit, pid = os._exit, os.getpid()

    def counted(*args: Any, **kwargs: Any) -> Any:
        containment.registered += 1
        if containment.registered > containment.limit:
            containment.over_limit = True
            raise _ResourceLimitReached(containment.limit)
        assert original_register is not None
        return original_register(*args, **kwargs)

    def program_exit(status: int) -> NoReturn:
        if os.getpid() != pid:  # a child the program forked exits as it asked
            original_exit(status)
        raise _ProgramExited(status)

    sys.stdout.flush()
    saved = {fd: os.dup(fd) for fd in (0, 1) if _is_descriptor(fd)}
    devnull = os.open(os.devnull, os.O_RDONLY)
    stdin, stdout = sys.stdin, sys.stdout
    try:
        if 0 in saved:
            os.dup2(devnull, 0)
        if 1 in saved and _is_descriptor(2):
            os.dup2(2, 1)
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - closed below
        sys.stdout = sys.stderr
        os._exit = program_exit
        if original_register is not None:  # the name `Resource.__init__` calls, imported there from pulumi.runtime
            pulumi_resource.register_resource = counted  # type: ignore[attr-defined]
        yield
    finally:
        if original_register is not None:
            pulumi_resource.register_resource = original_register  # type: ignore[attr-defined]
        os._exit = original_exit
        sys.stdin.close()
        sys.stdin, sys.stdout = stdin, stdout
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


def _is_descriptor(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


_P = ParamSpec("_P")
_T = TypeVar("_T")


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each call the SDK hands the event loop's executor at once, on the loop's own thread.

    The SDK sends every monitor call (RegisterResource, Invoke, ...) through `loop.run_in_executor` because a
    real monitor is a gRPC server in another process. Offline the monitor is `_RecordingMonitor`: in-process,
    synchronous, never waiting on the loop, so a hop to a pool thread and back per call adds only thread
    switches (about 8 % of a run, more under load) and leaves the pool's idle threads behind every run.
    asyncio takes only a ThreadPoolExecutor as the default executor; this one never starts a thread.
    """

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # as a pool's worker does: the awaiting coroutine gets it
            future.set_exception(exc)
        return future


_NO_POSITION = source_pb2.StackTrace()


def _program_uri(filename: str) -> str | None:
    """The file URI of `filename` when it is the program's own code: not Python's libraries, not Bascule's."""
    if filename.startswith((*_LIBRARY_PATHS, _BASCULE_PATH, "<")):
        return None
    try:
        return Path(filename).as_uri()
    except ValueError:  # a relative path: not a file the program was read from
        return None


@contextmanager
def _program_positions() -> Iterator[None]:
    """Record where the program declared each resource, cheaply: the innermost frame of the program's own code
    (for a resource a component creates, the program's line that created the component).

    The SDK's own capture (`_get_stack_trace`) formats the whole Python stack for every registration
    (`traceback.extract_stack` reads each frame's source line, a file URI per frame): 12-15 % of a stack run
    (benchmarks/plan_stack.py). This walks the frames' code objects only, with one answer per file cached, and
    hands the SDK a one-frame trace, which it sends as the request's `sourcePosition` (as the real engine gets it).
    Restored after the run; if an SDK release renames the function, positions are the SDK's (slower, and its own
    choice of frame: tests/test_offline_engine.py says so).
    """
    original = getattr(runtime_resource, "_get_stack_trace", None)
    if original is None:
        yield
        return
    uris: dict[str, str | None] = {}

    def program_frame() -> source_pb2.StackTrace:
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None:
            filename = frame.f_code.co_filename
            uri = uris[filename] if filename in uris else uris.setdefault(filename, _program_uri(filename))
            if uri is not None:
                position = source_pb2.SourcePosition(uri=uri, line=frame.f_lineno)
                return source_pb2.StackTrace(frames=[source_pb2.StackFrame(pc=position)])
            frame = frame.f_back
        return _NO_POSITION

    runtime_resource._get_stack_trace = program_frame
    try:
        yield
    finally:
        runtime_resource._get_stack_trace = original


def run_offline(
    program: Callable[[], None],
    config: Mapping[str, Any],
    *,
    project: str = "bascule",
    stack: str = "dev",
    semantics: Semantics = Semantics.UP,
    stack_references: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_resources: int | None = None,
) -> OfflineRun:
    """Run `program` against mocks and return every resource it registered; raise ProgramError when it fails.

    `auto` runs with `up` semantics and, when the program breaks on a stand-in (it indexed a computed map,
    decoded a computed token, read a remote component's resource output) or on a StackReference without outputs,
    once more with `preview` semantics, saying so in the warnings: on the corpus this gives the most verdicts
    (README figures). `max_resources`: the registrations a run may make (default `resource_limit()`); the program
    is stopped at the next one (`FailureKind.LIMIT`).
    """
    limit = resource_limit() if max_resources is None else max_resources
    if semantics is Semantics.AUTO:
        kwargs: dict[str, Any] = {"project": project, "stack": stack, "stack_references": stack_references,
                                  "max_resources": limit}  # fmt: skip
        try:
            return run_offline(program, config, semantics=Semantics.UP, timeout=timeout, **kwargs)
        except ProgramError as exc:
            if exc.kind not in (FailureKind.STAND_IN, FailureKind.STACK_REFERENCE, FailureKind.ENGINE):
                raise
            previewed = run_offline(program, config, semantics=Semantics.PREVIEW, timeout=timeout, **kwargs)
            previewed.warnings.insert(0, f"ran with preview semantics (computed outputs unknown): under up {exc}")
            return previewed
    warnings: list[str] = []
    strings = config_strings(config, warnings)
    preview = semantics is Semantics.PREVIEW
    mocks = _CloudMocks(strings, semantics, stack_references or {})
    mocks.warnings = warnings
    monitor = _RecordingMonitor(mocks)
    exported: dict[str, Any] = {}

    def program_and_outputs() -> pulumi.Output[Any]:
        # Mocks finish the root stack before the program runs, so `pulumi.export`s are read off it here.
        program()
        root = pulumi.runtime.get_root_resource()
        outputs = dict(getattr(root, "outputs", None) or {})
        return pulumi.Output.from_input(outputs).apply(exported.update)

    failure: list[BaseException] = []

    def run() -> None:
        # Set up on the worker's thread: the mocks create the root stack's futures on its event loop.
        loop = asyncio.new_event_loop()
        try:
            loop.set_default_executor(_InlineExecutor())
            asyncio.set_event_loop(loop)
            pulumi.runtime.settings.reset_options(project=project, stack=stack, preview=preview)
            pulumi.runtime.set_all_config(strings)
            pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
            pulumi.runtime.test(program_and_outputs)()  # type: ignore[no-untyped-call]
        except BaseException as exc:
            failure.append(exc)
        finally:
            _close(loop)

    # The watchdog: a program awaiting an output that never resolves would otherwise hang CI forever.
    # Pulumi keeps its settings and config in context variables: the worker runs in a copy of this context.
    context = contextvars.copy_context()
    worker = threading.Thread(target=context.run, args=(run,), name="bascule-offline-program", daemon=True)
    containment = _Containment(limit)
    # Every resource leaves Outputs, futures and tasks alive until the run ends: with the collector on, its
    # full passes walk that growing heap again and again (a third to half of the run; README figures).
    with collector_paused(age=False), _program_positions(), _contained(containment):
        worker.start()
        deadline = time.monotonic() + timeout
        while worker.is_alive() and time.monotonic() < deadline and not containment.over_limit:
            worker.join(min(0.1, timeout))
        if containment.over_limit:  # the program got the error at its next registration: let it end
            worker.join(max(0.0, min(5.0, deadline - time.monotonic())))
    if containment.over_limit:
        where = _program_error(failure[0], []).location if failure else None  # the line that registered one more
        raise ProgramError(
            f"stopped after {limit} resources: offline runs register at most {limit} (memory and time grow with "
            "each)", FailureKind.LIMIT, where,
            hint=f"a loop that never ends is the usual cause; a program that really declares more: set "
                 f"{MAX_RESOURCES_ENV} to the number it needs",
        )  # fmt: skip
    if worker.is_alive():
        raise ProgramError(
            f"no result after {timeout:g} s: the program hangs offline", FailureKind.TIMEOUT,
            hint="an output that never resolves (a live call, or an `apply` waiting on itself) is the usual cause",
        )  # fmt: skip
    if failure:
        raise _program_error(failure[0], mocks.unanswered) from None
    return OfflineRun(project, stack, strings, list(monitor.recorded), _plain(exported), list(mocks.warnings))


CLOSE_TIMEOUT = 5.0
"""Seconds a run's cancelled tasks get to end (they end at once: each awaits only other tasks of the run)."""


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """End a run's event loop with nothing left on it. A program that failed leaves the SDK's other tasks pending;
    dropped, each would be reported by the cyclic collector at some later collection ("Task was destroyed but it is
    pending!", "exception was never retrieved"), with a traceback whose formatting parses source with `ast` on
    Python 3.11: inside another `ast.parse` under way (a test's), CPython then fails with "AST constructor
    recursion depth mismatch". So the pending tasks are cancelled and awaited, and what the collector may still
    find of this loop (a finished task whose error the failure already reported) is not reported again."""
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:  # bounded: a task that swallows its cancellation must not turn a failure into a hang
            loop.run_until_complete(asyncio.wait(pending, timeout=CLOSE_TIMEOUT))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.set_exception_handler(lambda _loop, _context: None)  # the run is over: its failure was raised
        asyncio.set_event_loop(None)
        loop.close()


_LIBRARY_PATHS = tuple(
    {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")} | {str(Path(__file__))}
)
_BASCULE_PATH = str(Path(__file__).parent.parent) + os.sep
_LIVE_CALL_MODULES = ("botocore", "boto3", "azure", "google.auth", "google.api_core", "requests", "urllib3", "socket")
_STAND_IN_HINT = (
    "the program indexes or decodes a value only the cloud knows; offline stand-ins are lists of one element, "
    "maps without keys and plain text"
)
_NONE_HINT = (
    "a value was None: offline, a StackReference without outputs, an unset optional config or a live lookup "
    "reads as None where the cloud would give a value"
)


def stack_reference_flag(name: str) -> str:
    """The command-line flag that gives StackReference `name` its outputs offline."""
    return f"--stack-reference {name}=FILE"


def _program_error(exc: BaseException, unanswered: list[str]) -> ProgramError:
    """Classify a failure honestly: whose fault it is decides what the user should do about it. After a
    StackReference without outputs, a failure of the program's own logic (not a missing SDK or a live call) is
    most likely that stack's None outputs, so it is classed as such, naming the flag that gives them."""
    reference_hint = "give the referenced stack's outputs with " + ", ".join(map(stack_reference_flag, unanswered))
    frames = traceback.extract_tb(exc.__traceback__)
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:  # an error in an `apply` is re-raised by the runtime
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    own = [f for e in reversed(chain) for f in traceback.extract_tb(e.__traceback__)
           if not f.filename.startswith((*_LIBRARY_PATHS, "<frozen"))]  # fmt: skip
    # The program's innermost line, not Bascule's: where the program declared a component whose computed input
    # failed in an `apply` (`declared_at`), or the frames of the error; else the innermost frame outside libraries.
    declared = [f for e in chain for f in getattr(e, "declared_at", ())]
    program = [f for f in (*declared, *own) if not f.filename.startswith(_BASCULE_PATH)] or own
    location = f"{program[-1].filename}:{program[-1].lineno}" if program else None
    if str(exc).startswith("While processing") and len(chain) > 1:  # the runtime's wrapper: report the cause
        exc = chain[-1]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    exited = _exit_call(chain)
    if exited is not None:  # nothing after the exit ran: the resources recorded are not the program's
        hint = "offline, a program runs to its end inside Bascule's process; remove the exit"
        return ProgramError(f"the program called {exited} before its run ended", FailureKind.EXITED, location, hint)
    if isinstance(exc, SpecValueError):  # a spec built in the program: its one line says service, field, reason
        return ProgramError(str(exc), FailureKind.PROGRAM, location)
    if isinstance(exc, pulumi.RunError) and not isinstance(exc, pulumi.ConfigMissingError):
        if unanswered and declared:  # a computed input found wrong, not a value the program wrote
            return ProgramError(text, FailureKind.STACK_REFERENCE, location, reference_hint)
        return ProgramError(text, FailureKind.PROGRAM, location)
    message = f"{type(exc).__name__}: {text}"
    if isinstance(exc, pulumi.ConfigMissingError):
        return ProgramError(text, FailureKind.CONFIG, location, hint="pass the stack's config with --stack-config")
    if isinstance(exc, ModuleNotFoundError):
        missing = exc.name or ""
        root = missing.split(".")[0]
        if root.startswith(("pulumi_", "pulumiverse_")):
            if missing != root and _importable(root):
                hint = f"{root} is installed but has no {missing}: the program targets another major"
                return ProgramError(message, FailureKind.SDK_INCOMPATIBLE, location, hint)
            return ProgramError(message, FailureKind.SDK_MISSING, location, hint=f"install the {root} SDK")
        return ProgramError(message, FailureKind.DEPENDENCY_MISSING, location, hint=f"install {root}")
    sdk_frame = frames[-1].filename if frames else ""
    in_sdk = "/pulumi_" in sdk_frame or "/pulumiverse_" in sdk_frame
    if (isinstance(exc, (ImportError, AttributeError)) and "module 'pulumi" in text) or (
        isinstance(exc, ImportError) and "pulumi" in text
    ):
        return ProgramError(message, FailureKind.SDK_INCOMPATIBLE, location,
                            hint="the program uses an API the installed SDK major no longer has")  # fmt: skip
    if isinstance(exc, TypeError) and in_sdk and "unexpected keyword argument" in text:
        return ProgramError(message, FailureKind.SDK_INCOMPATIBLE, location,
                            hint="the program passes an argument the installed SDK major no longer takes")  # fmt: skip
    owner = type(getattr(exc, "obj", None)).__module__ if isinstance(exc, AttributeError) else ""
    if owner.startswith(("pulumi_", "pulumiverse_")):
        return ProgramError(message, FailureKind.SDK_INCOMPATIBLE, location,
                            hint="the program reads a property the installed SDK major renamed or removed")  # fmt: skip
    module = type(exc).__module__
    if module.startswith(_LIVE_CALL_MODULES) or isinstance(exc, ConnectionError):
        return ProgramError(message, FailureKind.LIVE_CALL, location,
                            hint="the program calls a cloud API itself; that cannot run offline")  # fmt: skip
    if isinstance(exc, EOFError):
        hint = "the program reads standard input; offline its stdin is empty (/dev/null)"
        return ProgramError(message, FailureKind.PROGRAM, location, hint)
    if isinstance(exc, KeyError) and frames and frames[-1].filename == "<frozen os>":
        return ProgramError(message, FailureKind.PROGRAM, location, hint=f"environment variable {text} is not set")
    if unanswered:
        return ProgramError(message, FailureKind.STACK_REFERENCE, location, reference_hint)
    if any(
        isinstance(e, (KeyError, IndexError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError)) for e in chain
    ):
        return ProgramError(message, FailureKind.STAND_IN, location, hint=_STAND_IN_HINT)
    if not own or frames[-1].filename == str(Path(__file__)):
        return ProgramError(message, FailureKind.ENGINE, location)
    none_hint = _NONE_HINT if "NoneType" in text or "None" in text.split() else None
    return ProgramError(message, FailureKind.PROGRAM, location, none_hint)


def _exit_call(chain: list[BaseException]) -> str | None:
    """`os._exit(0)` or `sys.exit(0)` when the program asked to end the process (as the call it made), else None."""
    for error in chain:
        if isinstance(error, _ProgramExited):
            return f"os._exit({error.code})"
        if isinstance(error, SystemExit):
            return f"sys.exit({error.code!r})" if error.code is not None else "sys.exit()"
    return None


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def load_program_dir(directory: Path) -> tuple[str, Callable[[], None]]:
    """A Pulumi Python project's name and its program, runnable by `run_offline` (main from Pulumi.yaml)."""
    directory = directory.resolve()
    project_file = next((directory / n for n in ("Pulumi.yaml", "Pulumi.yml") if (directory / n).is_file()), None)
    if project_file is None:
        raise ProgramError(f"{directory}: no Pulumi.yaml: not a Pulumi project")
    try:
        project = read_yaml(project_file, "Pulumi project file")
    except InputError as exc:
        raise ProgramError(str(exc)) from None
    if not isinstance(project, dict):
        raise ProgramError(f"{project_file}: expected a mapping (name, runtime, main), as Pulumi project files have")
    runtime = project.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProgramError(f"{project_file}: runtime is {runtime_name!r}; only Python programs run offline")
    main = directory / str(project.get("main") or ".")
    entry = main if main.is_file() else main / "__main__.py"
    if not entry.is_file():
        raise ProgramError(f"{project_file}: no program at {entry}")

    def program() -> None:
        previous_cwd, previous_path = os.getcwd(), list(sys.path)
        # The program's own modules (`config.py`, `dns.py`) come first on its path, as under `pulumi up`; a
        # module of that name this process already imported (dnspython's `dns`) would otherwise win.
        own = {p.stem for p in entry.parent.glob("*.py")} | {p.parent.name for p in entry.parent.glob("*/__init__.py")}
        shadowed = {n: m for n, m in sys.modules.items() if n.split(".")[0] in own}
        for name in shadowed:
            del sys.modules[name]
        os.chdir(entry.parent)
        sys.path.insert(0, str(entry.parent))
        try:
            runpy.run_path(str(entry), run_name="__main__")
        finally:
            os.chdir(previous_cwd)
            sys.path[:] = previous_path
            for name in [n for n in sys.modules if n.split(".")[0] in own]:
                del sys.modules[name]
            sys.modules.update(shadowed)

    return str(project.get("name") or directory.name), program
