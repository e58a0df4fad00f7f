"""The offline engine: run a Pulumi program in-process, with no CLI and no cloud, and record its resources.

It is the only module that knows about Pulumi mocks. The mocks answer like a provider would on
create: inputs come back as state, plus the computed outputs the components read (load balancer DNS
names, certificate validation options, zone ids), so `apply` chains run to the end and every child
resource is registered. Values that only a real cloud knows are plausible stand-ins, never used as facts.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks


@dataclass(frozen=True)
class RegisteredResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    """URN of the provider resource this resource was created with, if any."""
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    dependencies: tuple[str, ...] = ()
    """URNs this resource waits for: explicit `depends_on` and the resources its inputs come from."""


@dataclass
class OfflineRun:
    project: str
    stack: str
    config: dict[str, str]
    resources: list[RegisteredResource]
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    """What `pulumi stack output --json` would show (secrets in plain text: this run never leaves memory)."""


class ProgramError(Exception):
    """The program itself failed while running offline (not a Bascule bug): message only, no traceback."""


def _region_of(provider_inputs: Mapping[str, Any] | None, config: Mapping[str, str]) -> str:
    if provider_inputs and isinstance(provider_inputs.get("region"), str):
        return str(provider_inputs["region"])
    return config.get("aws:region", "us-east-1")


class _CloudMocks(pulumi_mocks.Mocks):
    def __init__(self, config: Mapping[str, str]):
        self.config = config
        self.providers: dict[str, dict[str, Any]] = {}

    def provider_inputs(self, ref: str | None) -> dict[str, Any] | None:
        return self.providers.get(ref.rsplit("::", 1)[0]) if ref else None

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        rid = f"{args.name}-id"
        if args.typ.startswith("pulumi:providers:"):
            return rid, inputs
        region = _region_of(self.provider_inputs(args.provider), self.config)
        state = dict(inputs)
        state.update(_computed(args.typ, args.name, inputs, region))
        return rid, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            region = _region_of(self.provider_inputs(args.provider), self.config)
            names = [f"{region}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"{region[:3]}-az{i}" for i in range(1, 4)], "id": region}, []
        if args.token == "aws:index/getRegion:getRegion":
            region = _region_of(self.provider_inputs(args.provider), self.config)
            return {"name": region, "region": region, "id": region}, []
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/offline",
                    "userId": "AIDAOFFLINE", "id": "123456789012"}, []  # fmt: skip
        if args.token == "aws:route53/getZone:getZone":
            name = str(args.args.get("name", "example.com"))
            return {"name": name, "zoneId": "Z0000000000000000000", "id": "Z0000000000000000000"}, []
        return {}, []


def _computed(typ: str, name: str, inputs: Mapping[str, Any], region: str) -> dict[str, Any]:
    """Outputs a provider computes on create, for the types whose outputs components read."""
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
    elif typ == "scaleway:containers/container:Container":
        out["publicEndpoint"] = f"https://{name}-x7k2.functions.fnc.{inputs.get('region', 'fr-par')}.scw.cloud"
    elif typ.startswith("gcp:"):
        out["name"] = inputs.get("name", name)  # auto-naming when none is given
        if typ == "gcp:compute/globalAddress:GlobalAddress":
            out["address"] = "203.0.113.10"
        elif typ == "gcp:certificatemanager/dnsAuthorization:DnsAuthorization":
            domain = str(inputs.get("domain", "example.com"))
            out["dnsResourceRecords"] = [
                {"name": f"_acme-challenge.{domain}.", "type": "CNAME",
                 "data": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.4.authorize.certificatemanager.goog."}
            ]  # fmt: skip
    elif typ == "aws:route53/record:Record":
        out["fqdn"] = str(inputs.get("name", "")).rstrip(".")
    elif typ == "aws:route53/zone:Zone":
        out["zoneId"] = "Z0000000000000000000"
        out["nameServers"] = [f"ns-{i}.awsdns-0{i}.org" for i in range(1, 5)]
    elif typ in ("aws:iam/role:Role", "aws:cloudwatch/logGroup:LogGroup", "aws:ecs/cluster:Cluster"):
        out["name"] = name
    elif typ.startswith("azure-native:"):
        out["name"] = inputs.get("containerAppName", name)
        if typ == "azure-native:app:ManagedEnvironment":
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
        elif typ == "azure-native:cdn:AFDCustomDomain":
            out["validationProperties"] = {"validationToken": "mock-dnsauth-token", "expirationDate": "2026-12-30"}
    return out


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """Keeps what `MockResourceArgs` drops: parent, provider and whether the resource is custom."""

    def __init__(self, mocks: _CloudMocks):
        super().__init__(mocks)
        self.cloud_mocks = mocks
        self.recorded: list[RegisteredResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        urn = response.urn
        registration = self.resources[urn]
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        provider_urn = request.provider.rsplit("::", 1)[0] if request.provider else None
        if request.type.startswith("pulumi:providers:"):
            self.cloud_mocks.providers[urn] = dict(inputs)
        self.recorded.append(
            RegisteredResource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent or None,
                provider=provider_urn,
                inputs=_plain(inputs),
                outputs=_plain(registration.state),
                dependencies=tuple(request.dependencies),
            )
        )
        return response


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
    """Make values JSON-friendly (no resource references or enum objects) for reports and inventory."""
    return json.loads(json.dumps(value, default=str))


def config_strings(config: Mapping[str, Any]) -> dict[str, str]:
    """Pulumi hands structured config to programs as JSON strings; plain strings stay as they are."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def run_offline(
    program: Callable[[], None], config: Mapping[str, Any], *, project: str = "bascule", stack: str = "dev"
) -> OfflineRun:
    """Run `program` as `pulumi up` would, against mocks, and return every resource it registered."""
    strings = config_strings(config)
    pulumi.runtime.settings.reset_options(project=project, stack=stack, preview=False)
    pulumi.runtime.set_all_config(strings)
    mocks = _CloudMocks(strings)
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    exported: dict[str, Any] = {}

    def program_and_outputs() -> pulumi.Output[Any]:
        # Mocks finish the root stack before the program runs, so `pulumi.export`s are read off it here.
        program()
        root = pulumi.runtime.get_root_resource()
        outputs = dict(getattr(root, "outputs", None) or {})
        return pulumi.Output.from_input(outputs).apply(exported.update)

    try:
        pulumi.runtime.test(program_and_outputs)()  # type: ignore[no-untyped-call]
    except pulumi.RunError as exc:
        raise ProgramError(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None
    except Exception as exc:  # the program is the user's code: report it, one line, as theirs
        raise ProgramError(f"{type(exc).__name__}: {exc}") from None
    return OfflineRun(project, stack, strings, list(monitor.recorded), _plain(exported))


def load_program_dir(directory: Path) -> tuple[str, Callable[[], None]]:
    """A Pulumi Python project's name and its program, runnable by `run_offline` (main from Pulumi.yaml)."""
    directory = directory.resolve()
    project_file = next((directory / n for n in ("Pulumi.yaml", "Pulumi.yml") if (directory / n).is_file()), None)
    if project_file is None:
        raise ProgramError(f"{directory}: no Pulumi.yaml: not a Pulumi project")
    project = yaml.safe_load(project_file.read_text(encoding="utf-8")) or {}
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
        os.chdir(entry.parent)
        sys.path.insert(0, str(entry.parent))
        try:
            runpy.run_path(str(entry), run_name="__main__")
        finally:
            os.chdir(previous_cwd)
            sys.path[:] = previous_path

    return str(project.get("name") or directory.name), program
