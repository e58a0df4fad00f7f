"""A team's program written as the README shows: a FailoverService and one export of its own.

No `services` output, no `bascule:services` block, nothing read from `bascule:drill`: the component reads the drill
marker and registers what `bascule drill` and `bascule verify` need. The sites are existing front ends
(`endpoint`); the tests put them on the sandbox's loopback sites. The health check's port is the team's own config.
"""

import pulumi

from bascule.components import FailoverService, FailoverServiceArgs
from bascule.spec import EndpointSiteSpec, HealthCheckSpec, Route53DnsSpec, ServiceSpec

config = pulumi.Config()

spec = ServiceSpec(
    name="checkout",
    hostname="checkout.sandbox.test",
    criticality="critical",
    rto_seconds=60,
    primary=EndpointSiteSpec(provider="aws", region="eu-west-3", address="192.0.2.2"),
    secondary=EndpointSiteSpec(provider="azure", region="francecentral", address="192.0.2.3"),
    health_check=HealthCheckSpec(
        protocol="HTTPS",
        port=config.get_int("health_port") or 443,
        path="/healthz",
        interval_seconds=10,
        failure_threshold=3,
    ),
    dns=Route53DnsSpec(zone="sandbox.test", zone_id="Z1", ttl=1),
)
service = FailoverService("checkout", FailoverServiceArgs(service=spec))
pulumi.export("hostname", service.hostname)
