"""Hetzner Cloud site: servers running the service image behind a Load Balancer with a Let's Encrypt certificate.

The servers boot Hetzner's Ubuntu image; cloud-init installs Docker and runs the service image, restarted always, so
the site is warm from its first `up` (never scaled to zero). User data is read at creation only, and the provider
replaces a server whose user data changes (`user_data` is `ForceNew` in terraform-provider-hcloud's
internal/server/resource.go): a new image means new servers, created (auto-named) before the old ones are deleted.
They sit in a spread placement group (one physical host each) and a private Network with the load balancer, which
reaches them on their private addresses; a Firewall with no inbound rule closes their public interface, which they
keep only to pull the image.

The load balancer's HTTPS service on port 443 serves the uploaded certificate, forwards to the servers' container
port, and checks them with the service hostname as Host; port 80 only redirects to HTTPS. Its public IPv4 is the
site's fixed address, which DNS backends answer and probe with Host and SNI = the hostname.

The certificate comes from Let's Encrypt through pulumiverse-acme (lego inside): a DNS-01 challenge the ACME client
writes into the service's zone through the DNS backend's API (`DnsRecords.acme_challenge`), so it is issued while the
hostname still points at the other site. Renewal happens in `pulumi up` once fewer than `renew_days_before` days
remain; the new certificate is uploaded as a new Hetzner certificate and the load balancer's service switched to it.
"""

from __future__ import annotations

import pulumi
import pulumi_hcloud as hcloud

from bascule.components.acme import issue_certificate
from bascule.components.base import (
    Site,
    SiteArgs,
    SiteEndpoint,
    bascule_tags,
    caller_provider,
    default_provider_allowed,
    fit_name,
    gcp_labels,
)
from bascule.components.cloud_init import docker_cloud_config
from bascule.components.hetzner.plugin import (
    NETWORK_ZONES,
    SERVER_IMAGE,
    SERVER_NAME,
    USER_DATA_MAX,
    HetznerSiteSpec,
)
from bascule.spec import DrillFault

NETWORK_RANGE = "10.0.0.0/16"
SUBNET_RANGE = "10.0.1.0/24"
"""The site's own private Network: "Must be one of the private ipv4 ranges of RFC1918" (the SDK's `hcloud.Network`
`ip_range`), with one subnet of type `cloud` for servers and the load balancer."""

DRILL_RESPONSE = "bascule-drill-health-check-expects-a-body-no-service-sends"
"""The `health` drill's lever: the health check's `response` ("String that must be contained in HTTP response in order
to pass the health check", Hetzner Cloud API via the hcloud crate's copy of it,
https://docs.rs/crate/hcloud/latest/source/src/models/load_balancer_service_health_check_http.rs), which no service
answers with, so every target turns unhealthy. "The load balancers return a status code 503 if none of the targets have
passed the health checks" (Hetzner's maintainer, https://github.com/hetznercloud/hcloud-cloud-controller-manager/pull/354).
Restore takes it off again: the provider sends every field of the check's `http` block on each update, an absent
`response` as an empty string (terraform-provider-hcloud internal/loadbalancer/resource_service.go,
`parseTFHealthCheckHTTPUpdate`; hcloud-go sends a set pointer even when empty, `Response *string
json:"response,omitempty"` in hcloud/schema/load_balancer.go)."""

HEALTHY_STATUS_CODES = ("2??", "3??")
"""What the load balancer's check counts as healthy, given explicitly ("List of returned HTTP status codes in order to
pass the health check. Supports the wildcards `?` for exactly one character", the API's
LoadBalancerServiceHealthCheckHttp `status_codes` as `DRILL_RESPONSE` cites it):
Route 53's rule for the same endpoint ("an HTTP status code of 2xx or 3xx",
https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html), and no
drift from whatever default the API fills in: the provider's `status_codes` is optional but not computed
(resource_service.go), so a default read back would differ from an empty input on every `up`."""


def cloud_config(image: str, port: int) -> str:
    """Cloud-init user data that runs `image` with its `port` published (`components/cloud_init.py`), within
    Hetzner's limit. Hetzner's system images "include a special cloud-init datasource" (its Cloud Server FAQ, which
    points to cloud-init's examples)."""
    document = docker_cloud_config(image, port)
    if len(document.encode()) > USER_DATA_MAX:
        raise pulumi.RunError(f"the image reference makes cloud-init user data over Hetzner's {USER_DATA_MAX} bytes")
    return document


def _as_id(value: str) -> int:
    """Hetzner ids are integers; the SDK types resource ids as strings (`load_balancer.id.apply(lambda x: int(x))` in
    its own examples)."""
    return int(value)


class HetznerSite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        site = args.site
        if not isinstance(site, HetznerSiteSpec):
            raise TypeError(f"HetznerSite needs a 'hetzner' site spec, got '{site.kind}'")
        args.check(name)
        # The caller's provider (another project's token), else the stack's default provider: `hcloud:token` config
        # or HCLOUD_TOKEN. Every resource names its own location; the provider has none.
        provider = caller_provider(opts, "hcloud", name)
        if provider is None:
            default_provider_allowed("hcloud", name, "SiteInputs.provider")
        super().__init__("bascule:hetzner:HetznerSite", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        labels = gcp_labels(bascule_tags(args.service, args.role))  # label keys take no ':', as GCP's
        host, hc, port = args.service.hostname, args.service.health_check, site.container_port

        network = hcloud.Network(f"{name}-net", ip_range=NETWORK_RANGE, labels=labels, opts=child)
        subnet = hcloud.NetworkSubnet(
            f"{name}-subnet",
            network_id=network.id.apply(_as_id),
            type="cloud",
            network_zone=NETWORK_ZONES[site.location],
            ip_range=SUBNET_RANGE,
            opts=child,
        )
        # No inbound rule: "If you don't define any rules here, all inbound traffic will be dropped"; no outbound rule:
        # "all traffic is allowed" (https://docs.hetzner.com/cloud/firewalls/faq). A Firewall applies to "the Server's
        # public network interface" (API, Create a Server, `firewalls`), not to the private Network the load balancer
        # reaches the servers through.
        firewall = hcloud.Firewall(f"{name}-fw", labels=labels, opts=child)
        placement = hcloud.PlacementGroup(f"{name}-spread", type="spread", labels=labels, opts=child)
        user_data = pulumi.Output.from_input(args.image_to_run).apply(lambda image: cloud_config(image, port))
        servers = [
            hcloud.Server(
                fit_name(f"{name}-server-{index}", SERVER_NAME),
                server_type=site.server_type,
                image=SERVER_IMAGE,
                location=site.location,
                placement_group_id=placement.id.apply(_as_id),
                firewall_ids=[firewall.id.apply(_as_id)],
                # A public IPv4 to pull the image from registries without one over IPv6; closed by the Firewall.
                public_nets=[hcloud.ServerPublicNetArgs(ipv4_enabled=True, ipv6_enabled=True)],
                networks=[hcloud.ServerNetworkArgs(network_id=network.id.apply(_as_id), subnet_id=subnet.id)],
                user_data=user_data,
                labels=labels,
                opts=child,
            )
            for index in range(site.servers)
        ]

        certificate = self._certificate(name, args, site, labels, child)
        load_balancer = hcloud.LoadBalancer(
            f"{name}-lb", load_balancer_type=site.load_balancer_type, location=site.location, labels=labels, opts=child
        )
        lb_id = load_balancer.id.apply(_as_id)
        attached = hcloud.LoadBalancerNetwork(f"{name}-lb-net", load_balancer_id=lb_id, subnet_id=subnet.id, opts=child)
        # Targets by server, not by label selector: a selector would also match another stack's servers with the same
        # Bascule labels in the same project. Private IPs need the load balancer in the servers' Network ("The cloud
        # server and Load Balancer have to be in the same private Cloud Network", https://docs.hetzner.com/cloud/load-balancers/faq).
        if args.fault is not DrillFault.OUTAGE:
            for index, server in enumerate(servers):
                hcloud.LoadBalancerTarget(
                    f"{name}-target-{index}",
                    load_balancer_id=lb_id,
                    type="server",
                    server_id=server.id.apply(_as_id),
                    use_private_ip=True,
                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[attached])),
                )
        health_response = DRILL_RESPONSE if args.fault is DrillFault.HEALTH else hc.search_string
        hcloud.LoadBalancerService(
            f"{name}-https",
            load_balancer_id=load_balancer.id,
            protocol="https",
            listen_port=443,
            destination_port=port,
            http=hcloud.LoadBalancerServiceHttpArgs(
                certificates=[certificate.id.apply(_as_id)],
                # "Redirect HTTP to HTTPS traffic. Only supported for services with `protocol` `https` using the
                # default HTTP port `80`" (the SDK's `LoadBalancerServiceHttpArgs`).
                redirect_http=True,
            ),
            # The load balancer's own check of each server, with the service hostname as Host header ("Host header to
            # send in the HTTP request ... Can be null, in that case no host header is sent", the API's
            # LoadBalancerServiceHealthCheckHttp `domain`), over the servers' plain HTTP: TLS ends at the load balancer.
            health_check=hcloud.LoadBalancerServiceHealthCheckArgs(
                protocol="http",
                port=port,
                interval=hc.interval_seconds,
                timeout=min(5, hc.interval_seconds),
                retries=hc.failure_threshold,
                http=hcloud.LoadBalancerServiceHealthCheckHttpArgs(
                    domain=host,
                    path=hc.path,
                    response=health_response,
                    status_codes=list(HEALTHY_STATUS_CODES),
                    tls=False,
                ),
            ),
            opts=child,
        )

        # "Each Load Balancer has: Public IPv4" (https://docs.hetzner.com/cloud/load-balancers/faq): kept for the load
        # balancer's life, so DNS answers it directly. A change of location replaces the load balancer and its address;
        # the DNS backend's records follow in the same `up`.
        self.register_endpoint(
            SiteEndpoint(
                role=args.role,
                cloud=site.cloud,
                region=site.location,
                target=load_balancer.ipv4,
                target_is_ip=True,
                address=load_balancer.ipv4,
            ),
            certificate_not_after=certificate.not_valid_after,
        )

    @staticmethod
    def _certificate(
        name: str, args: SiteArgs, site: HetznerSiteSpec, labels: dict[str, str], child: pulumi.ResourceOptions
    ) -> hcloud.UploadedCertificate:
        """The hostname's Let's Encrypt certificate (`components/acme.py`), uploaded to Hetzner.

        Hetzner takes "Certificate and chain in PEM format, in order so that each record directly certifies the one
        preceding" (hetzner.hcloud certificate module docs). A renewed certificate changes the uploaded one's inputs,
        which replaces it: created first under a new auto-name, the load balancer's service switched to it, then the
        old one deleted.
        """
        issued = issue_certificate(name, args, site, child.parent)
        return hcloud.UploadedCertificate(
            f"{name}-cert",
            certificate=issued.full_chain_pem,
            private_key=issued.private_key_pem,
            labels=labels,
            opts=child,
        )
