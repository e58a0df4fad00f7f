"""FailoverService: one service as a primary site, a warm secondary site and a DNS switch between them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from bascule.components.base import AwsNetwork, SiteArgs, check_site_inputs
from bascule.components.registry import data_standby_class, dns_backend_class, site_class
from bascule.spec import (
    CONFIG_NAMESPACE,
    SERVICE_TYPE,
    DrillFault,
    Role,
    ServiceSpec,
    SpecError,
    StackSpec,
    check_drill,
    read_drill,
)


@dataclass(frozen=True)
class SiteInputs:
    """What a program computes for one site, beyond its spec: all optional."""

    image: pulumi.Input[str] | None = None
    """The image an 'aws', 'azure' or 'gcp' site runs, when the program computes it (an ECR or Artifact Registry
    repository URL and a tag); it replaces the spec's `image`, which may then be left out."""
    address: pulumi.Input[str] | None = None
    """An 'endpoint' site's address when the program computes it; of the spec's form (IP or hostname)."""
    network: AwsNetwork | None = None
    """An existing VPC an 'aws' site runs in (ids may be computed), instead of a VPC of its own."""
    provider: pulumi.ProviderResource | None = None
    """The provider the site's resources use (another account, an assumed role, default tags), of the site's
    cloud and in the spec's region; without it the site creates its own for the spec's region."""


@dataclass(frozen=True)
class FailoverServiceArgs:
    """A service from a validated spec (`ServiceSpec`, built in Python or read from stack config)."""

    service: ServiceSpec
    """Sites, health check and DNS switch: validated when built, so a wrong field fails before any resource."""
    primary: SiteInputs = SiteInputs()
    """Computed inputs of the primary site."""
    secondary: SiteInputs = SiteInputs()
    """Computed inputs of the secondary site."""
    dns_provider: pulumi.ProviderResource | None = None
    """The provider of the DNS switch (e.g. the account holding the zone); its own by default."""


def drill_fault(svc: ServiceSpec) -> DrillFault | None:
    """The fault a running drill injects into `svc`: the stack config `bascule:drill` when it names this service
    (`bascule drill --stack` sets it around a targeted `pulumi up`), else None. A marker for a fault the service's
    primary cannot take stops the program with one line."""
    source = f"Pulumi.{pulumi.get_stack()}.yaml"
    try:
        hook = read_drill(pulumi.Config(CONFIG_NAMESPACE).get("drill"), source)
        if hook is None or hook.service != svc.name:
            return None
        check_drill(hook, StackSpec(services=(svc,)), source)
    except SpecError as exc:
        raise pulumi.RunError("; ".join(exc.lines)) from None
    pulumi.log.warn(hook.in_progress())
    return hook.fault


class FailoverService(pulumi.ComponentResource):
    """A primary site, a warm secondary and a health-checked DNS switch.

    It reads the drill marker itself (`drill_fault`) and registers, as its outputs, everything `bascule drill` and
    `bascule verify` read (the hostname, each site's endpoint and health URL, the RTO, the zone, the drill in force):
    Pulumi keeps a component's registered outputs in the stack's state, where the drill finds them by
    `SERVICE_TYPE`, so a program needs no stack output or config block of its own for drills.
    """

    def __init__(self, name: str, args: FailoverServiceArgs, opts: pulumi.ResourceOptions | None = None):
        svc = args.service
        drill = drill_fault(svc)
        for role, site, inputs in (
            ("primary", svc.primary, args.primary),
            ("secondary", svc.secondary, args.secondary),
        ):
            try:  # before any resource: a wrong input must not leave a half-declared service
                check_site_inputs(site, inputs.image, inputs.address, inputs.network)
            except ValueError as exc:
                raise pulumi.RunError(f"{name}: {role}.{exc}") from None
        super().__init__(SERVICE_TYPE, name, None, opts)
        dns = dns_backend_class(svc.dns.kind)(
            f"{name}-dns", svc, pulumi.ResourceOptions(parent=self, provider=args.dns_provider)
        )
        primary = site_class(svc.primary.kind)(
            f"{name}-primary",
            SiteArgs(
                svc,
                Role.PRIMARY,
                svc.primary,
                dns,
                drill,
                args.primary.image,
                args.primary.address,
                args.primary.network,
            ),
            pulumi.ResourceOptions(parent=self, provider=args.primary.provider),
        )
        secondary = site_class(svc.secondary.kind)(
            f"{name}-secondary",
            SiteArgs(
                svc,
                Role.SECONDARY,
                svc.secondary,
                dns,
                None,
                args.secondary.image,
                args.secondary.address,
                args.secondary.network,
            ),
            pulumi.ResourceOptions(parent=self, provider=args.secondary.provider),
        )
        dns.route(primary.endpoint, secondary.endpoint, drill)
        if svc.data is not None:
            data_standby_class(svc.data.kind)(f"{name}-data", svc, pulumi.ResourceOptions(parent=self))

        self.hostname = pulumi.Output.from_input(svc.hostname)
        self.endpoints = pulumi.Output.all(primary.endpoint.target, secondary.endpoint.target).apply(
            lambda t: {Role.PRIMARY.value: t[0], Role.SECONDARY.value: t[1]}
        )
        hc = svc.health_check
        self.health_urls = self.endpoints.apply(
            lambda e: {role: f"{hc.protocol.lower()}://{t}:{hc.effective_port}{hc.path}" for role, t in e.items()}
        )
        self.health_check_ids = dns.health_check_ids
        self.rto_budget_seconds = pulumi.Output.from_input(svc.rto_budget_seconds)
        # Kept in the state as this component's outputs: registering them "saves outputs to state"
        # (https://github.com/pulumi/docs/pull/15190, on https://www.pulumi.com/docs/iac/concepts/resources/components/),
        # by the same RegisterResourceOutputs call that makes a program's exports the stack's outputs
        # (https://github.com/pulumi/pulumi/pull/581). `pulumi stack export` lists them under the component's URN,
        # which is where `bascule drill` and `bascule verify` read them (bascule/drills/stack_control.py).
        self.register_outputs(
            {
                "service": svc.name,
                "hostname": self.hostname,
                "endpoints": self.endpoints,
                "health_check_ids": self.health_check_ids,
                "health_urls": self.health_urls,
                "health_check_host": svc.hostname,
                "health_path": hc.path,
                "rto_budget_seconds": self.rto_budget_seconds,
                "rto_target_seconds": svc.rto_seconds,
                "zone": svc.dns.zone,
                "drill": drill.value if drill else None,
            }
        )
