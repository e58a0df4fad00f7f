"""A site kind from outside Bascule, all in one module: its spec model, its component and its declaration.

'fakeip' is a site behind an AWS Elastic IP that the team runs itself: the address is fixed, so IP-only switches
(PowerDNS) may route to it. 'fakename' is the same site reached only by a hostname, which they must refuse.
`tests/test_plugins.py` registers both and plans a stack file that names them.
"""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_aws as aws

from bascule.components.base import Site, SiteArgs, SiteEndpoint, bascule_tags
from bascule.facts import Cloud
from bascule.spec import SiteKind
from bascule.spec.base import DrillFault, SiteSpecBase
from bascule.spec.plugins import ALWAYS


class FakeIpSiteSpec(SiteSpecBase):
    kind: Literal["fakeip"] = "fakeip"
    region: str

    @property
    def cloud(self) -> Cloud:
        return Cloud.AWS


class FakeNameSiteSpec(FakeIpSiteSpec):
    kind: Literal["fakename"] = "fakename"  # type: ignore[assignment]


class FakeIpSite(Site):
    """An Elastic IP (`aws.ec2.Eip`, domain "vpc") the team's own load balancer sits behind."""

    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tests:fake:FakeIpSite", name, None, opts)
        provider = aws.Provider(f"{name}-provider", region=args.site.region, opts=pulumi.ResourceOptions(parent=self))
        # Its `outage` lever, for the test of a kind's own inject order: the address marked as taken away.
        outage = {"drill": "outage"} if args.fault is DrillFault.OUTAGE else {}
        eip = aws.ec2.Eip(
            f"{name}-ip",
            domain="vpc",
            tags={**bascule_tags(args.service, args.role), **outage},
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.endpoint = SiteEndpoint(
            role=args.role, cloud=Cloud.AWS, region=args.site.region, target=eip.public_ip, target_is_ip=True
        )
        self.register_outputs({"target": eip.public_ip})


FAKE_IP = SiteKind(
    kind="fakeip",
    spec=FakeIpSiteSpec,
    component=f"{__name__}:FakeIpSite",
    extra=None,
    cloud=Cloud.AWS,
    certificate="the team's own, on its load balancer",
    fixed_ip=ALWAYS,
    answered_by_ip=ALWAYS,
    levers={DrillFault.OUTAGE: "its address taken from the team's load balancer"},
    # The kind's own order: its address goes last, after everything else of the fault.
    inject_last={DrillFault.OUTAGE: frozenset({"aws:ec2/eip:Eip"})},
)

FAKE_NAME = SiteKind(
    kind="fakename",
    spec=FakeNameSiteSpec,
    component=f"{__name__}:FakeIpSite",
    extra=None,
    cloud=Cloud.AWS,
    certificate="the team's own, on its load balancer",
)
