"""FailoverService: one service as a primary site, a warm secondary site and a DNS switch between them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from bascule.components.base import SiteArgs
from bascule.components.registry import data_standby_class, dns_backend_class, site_class
from bascule.spec import DrillFault, Role, ServiceSpec


@dataclass(frozen=True)
class FailoverServiceArgs:
    service: ServiceSpec
    drill: DrillFault | None = None
    """The fault a running drill injects into this service; None in normal operation."""


class FailoverService(pulumi.ComponentResource):
    def __init__(self, name: str, args: FailoverServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:service:FailoverService", name, None, opts)
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        dns = dns_backend_class(svc.dns.kind)(f"{name}-dns", svc, child)
        primary = site_class(svc.primary.kind)(
            f"{name}-primary", SiteArgs(svc, Role.PRIMARY, svc.primary, dns, args.drill), child
        )
        secondary = site_class(svc.secondary.kind)(
            f"{name}-secondary", SiteArgs(svc, Role.SECONDARY, svc.secondary, dns), child
        )
        dns.route(primary.endpoint, secondary.endpoint, args.drill)
        if svc.data is not None:
            data_standby_class(svc.data.kind)(f"{name}-data", svc, child)

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
        self.register_outputs(
            {
                "hostname": self.hostname,
                "endpoints": self.endpoints,
                "health_check_ids": self.health_check_ids,
                "health_urls": self.health_urls,
                "health_check_host": svc.hostname,
                "health_path": hc.path,
                "rto_budget_seconds": self.rto_budget_seconds,
                "rto_target_seconds": svc.rto_seconds,
                "zone": svc.dns.zone,
                "drill": args.drill.value if args.drill else None,
            }
        )
