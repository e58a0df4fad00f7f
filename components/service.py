"""FailoverService: one service as a primary site, a warm secondary site and a DNS switch between them."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi

from bascule.components.base import (
    AwsNetwork,
    DataArgs,
    ExistingLoadBalancer,
    SiteArgs,
    SiteDatabase,
    check_site_inputs,
)
from bascule.components.registry import data_standby_class, dns_backend_class, site_class
from bascule.spec import (
    CONFIG_NAMESPACE,
    SERVICE_TYPE,
    DrillFault,
    Role,
    ServiceSpec,
    SpecError,
    dns_backend,
    fault_refused,
    marker_refused,
    read_drill,
)
from bascule.spec.acme import acme_renewals
from bascule.spec.plugins import site_authorities


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
    load_balancer: ExistingLoadBalancer | None = None
    """The existing load balancer an 'aws-alb' site is (ARN, or DNS name and zone id; any may be computed)."""
    provider: pulumi.ProviderResource | None = None
    """The provider the site's resources use (another account, an assumed role), of the site's cloud and in the
    spec's region; without it they use the stack's default provider, with its settings, in the spec's region."""


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
    """The provider of the DNS switch (e.g. the account holding the zone); the stack's default provider if None."""
    backup_provider: pulumi.ProviderResource | None = None
    """The provider of the data backup's store (`data.backup`; a `pulumiverse_scaleway.Provider`), e.g. with the
    Scaleway organization's credentials; the stack's default provider if None."""
    zone_id: pulumi.Input[str] | None = None
    """The DNS backend's existing zone when the program computes it (the team's own `aws.route53.Zone`'s
    `zone_id`, another stack's output), instead of the spec's `dns.zone_id`; checked for form once known."""


def drill_fault(svc: ServiceSpec) -> DrillFault | None:
    """The fault a running drill injects into `svc`: the stack config `bascule:drill` when it names this service
    (`bascule drill --stack` sets it around a targeted `pulumi up`), else None. A marker for a fault the service's
    primary cannot take stops the program with one line."""
    source = f"Pulumi.{pulumi.get_stack()}.yaml"
    try:
        hook = read_drill(pulumi.Config(CONFIG_NAMESPACE).get("drill"), source)
    except SpecError as exc:
        raise pulumi.RunError("; ".join(exc.lines)) from None
    if hook is None or hook.service != svc.name:
        return None
    refused = fault_refused(hook.fault, svc)
    if refused is not None:  # the primary's declaration says which faults it can take, and why not the others
        raise pulumi.RunError(marker_refused(source, refused))
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
                check_site_inputs(site, inputs.image, inputs.address, inputs.network, inputs.load_balancer)
            except ValueError as exc:
                raise pulumi.RunError(f"{name}: {role}.{exc}") from None
        dns_inputs = _dns_inputs(name, svc, args)
        super().__init__(SERVICE_TYPE, name, None, opts)
        for warning in svc.warnings():  # a program's spec warns as a stack file's does (`plan`, `check`, `up`)
            pulumi.log.warn(warning, resource=self)
        dns = dns_backend_class(svc.dns.kind)(
            f"{name}-dns", svc, pulumi.ResourceOptions(parent=self, provider=args.dns_provider), **dns_inputs
        )
        primary_args = SiteArgs(
            svc,
            Role.PRIMARY,
            svc.primary,
            dns,
            drill,
            args.primary.image,
            args.primary.address,
            args.primary.network,
            args.primary.load_balancer,
        )
        secondary_args = SiteArgs(
            svc,
            Role.SECONDARY,
            svc.secondary,
            dns,
            None,
            args.secondary.image,
            args.secondary.address,
            args.secondary.network,
            args.secondary.load_balancer,
        )
        if svc.data is not None:
            # Before the sites: each site's application is told the database beside it, and runs in its network.
            data = data_standby_class(svc.data.kind)(
                f"{name}-data",
                DataArgs(
                    svc,
                    primary_args.given_network,
                    args.primary.provider,
                    args.secondary.provider,
                    args.backup_provider,
                ),
                pulumi.ResourceOptions(parent=self),
            )
            primary_args = _with_database(primary_args, data.site_database(Role.PRIMARY))
            secondary_args = _with_database(secondary_args, data.site_database(Role.SECONDARY))
        primary = site_class(svc.primary.kind)(
            f"{name}-primary", primary_args, pulumi.ResourceOptions(parent=self, provider=args.primary.provider)
        )
        secondary = site_class(svc.secondary.kind)(
            f"{name}-secondary", secondary_args, pulumi.ResourceOptions(parent=self, provider=args.secondary.provider)
        )
        dns.route(primary.endpoint, secondary.endpoint, drill)

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
                # The CAA domains of each site's CA, for `bascule verify`'s CAA check.
                "certificate_authorities": {role: list(cas) for role, cas in site_authorities(svc).items()},
                # Where each ACME-certified site renews from and how early, for `bascule verify` to name a
                # stopped renewal (the same constant and field `components/acme.py` issues with).
                "acme": {
                    role: {"directory": directory, "renew_days": days}
                    for role, (directory, days) in acme_renewals(svc).items()
                },
                "drill": drill.value if drill else None,
            }
        )


def _with_database(site: SiteArgs, database: SiteDatabase) -> SiteArgs:
    """A site's args with the database beside it; a site given no network runs in the one the database is in."""
    network = site.network if site.given_network is not None else database.network
    return replace(site, database=database, network=network)


def _dns_inputs(name: str, svc: ServiceSpec, args: FailoverServiceArgs) -> dict[str, pulumi.Input[str]]:
    """What the program computes for the DNS backend, checked before any resource: only the inputs its declaration
    takes (`DnsBackend.computed_inputs`), never one the spec gives too."""
    if args.zone_id is None:
        return {}
    if "zone_id" not in dns_backend(svc.dns.kind).computed_inputs:
        raise pulumi.RunError(f"{name}: zone_id: a '{svc.dns.kind}' DNS backend takes no computed zone_id")
    if getattr(svc.dns, "zone_id", None) is not None:
        raise pulumi.RunError(f"{name}: dns.zone_id: given by both the spec and the program; give it in one place")
    return {"zone_id": args.zone_id}
