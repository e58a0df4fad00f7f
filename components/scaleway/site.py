"""Scaleway site: Instances running the service image behind a Load Balancer with a Let's Encrypt certificate.

The servers boot Scaleway's Ubuntu image; cloud-init installs Docker and runs the service image, restarted always
(`components/cloud_init.py`), so the site is warm from its first `up` (never scaled to zero). They sit in a
`max_availability` placement group ("spreads the Instances on far-away hypervisors as much as possible",
https://www.scaleway.com/en/docs/compute/instances/api-cli/using-placement-groups/) and in a Private Network (in a VPC
of the site's own) with the load balancer, which reaches them on their private addresses; a security group that drops
every inbound packet closes their public interface, which they keep only to pull the image.

The load balancer's HTTPS frontend on port 443 serves the uploaded certificate and forwards to the servers' container
port in plain HTTP (SSL offloading); its backend checks each server with the service hostname as Host. Its flexible
IPv4, a resource of its own, is the site's fixed address, which DNS backends answer and probe with Host and SNI = the
hostname.

The certificate comes from Let's Encrypt through pulumiverse-acme (`components/acme.py`): a DNS-01 challenge in the
service's zone, so it is issued while the hostname still points at the other site, and renewed by `pulumi up` once
fewer than `renew_days_before` days remain; the renewed one is uploaded as a new load balancer certificate and the
frontend switched to it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pulumi
import pulumiverse_scaleway as scaleway

from bascule.components.acme import issue_certificate
from bascule.components.base import (
    Site,
    SiteArgs,
    SiteEndpoint,
    bascule_tags,
    caller_provider,
    default_provider_allowed,
    fit_name,
)
from bascule.components.cloud_init import docker_cloud_config
from bascule.components.scaleway.plugin import SERVER_IMAGE, SERVER_NAME, ScalewaySiteSpec
from bascule.spec import DrillFault


def scaleway_tags(tags: dict[str, str]) -> list[str]:
    """Scaleway tags are plain strings (`tags` is a list of strings on every resource); Bascule writes `key=value`,
    which the inventory reads back (`bascule.inventory.records`)."""
    return [f"{key}={value}" for key, value in tags.items()]


def private_ipv4(private_ips: Sequence[scaleway.instance.outputs.ServerPrivateIp]) -> str:
    """A server's IPv4 on the Private Network. `private_ips` is the "List of private IPv4 and IPv6 addresses
    associated with the resource", read from IPAM (terraform-provider-scaleway internal/services/instance/server.go),
    each a bare address (`"address": ipNet.IP.String()`, internal/services/ipam/helpers.go): the backend is given the
    IPv4 one."""
    for ip in private_ips:
        if ip.address is not None and ipaddress.ip_address(ip.address).version == 4:
            return ip.address
    raise pulumi.RunError("a Scaleway server has no private IPv4 on the site's Private Network (IPAM gave none)")


class ScalewaySite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        site = args.site
        if not isinstance(site, ScalewaySiteSpec):
            raise TypeError(f"ScalewaySite needs a 'scaleway' site spec, got '{site.kind}'")
        args.check(name)
        # The caller's provider (another project's key), else the stack's default provider: `scaleway:accessKey` /
        # `scaleway:secretKey` / `scaleway:projectId` config or SCW_ACCESS_KEY, SCW_SECRET_KEY, SCW_DEFAULT_PROJECT_ID
        # (the provider's config, pulumiverse/pulumi-scaleway provider/resources.go). Every resource names its zone or
        # region, so the provider's default zone never decides where the site runs.
        provider = caller_provider(opts, "scaleway", name)
        if provider is None:
            default_provider_allowed("scaleway", name, "SiteInputs.provider")
        super().__init__("bascule:scaleway:ScalewaySite", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        tags = scaleway_tags(bascule_tags(args.service, args.role))
        host, hc, port = args.service.hostname, args.service.health_check, site.container_port
        zone = site.availability_zone

        # A VPC of its own in the region, never the default one: "If you created your Scaleway Project after 13 May
        # 2025, default VPCs are no longer pre-created for the Project" (https://www.scaleway.com/en/docs/vpc/faq/), and
        # one the API would create on the fly (scaleway/docs-content#4920) would be outside the state, left behind by
        # `pulumi destroy`. The provider's own examples create `scaleway_vpc` and pass `vpc_id` (its
        # docs/resources/lb.md; terraform-provider-scaleway#3372 "add explicit vpc in usage of a private network").
        # The Private Network in it has its subnet chosen by IPAM. "When attaching resources to a Private Network, you
        # can attach resources from any AZ within the Private Network's region"
        # (https://www.scaleway.com/en/docs/network/vpc/reference-content/getting-most-private-networks/).
        vpc = scaleway.network.Vpc(f"{name}-vpc", region=site.region, tags=tags, opts=child)
        network = scaleway.network.PrivateNetwork(
            f"{name}-pn", region=site.region, vpc_id=vpc.id, tags=tags, opts=child
        )
        # Drop every inbound packet on the public interface, accept outbound (the image pull), stateful so replies come
        # back. "Security Groups rules are applied to public Internet connections only. The security group rules do not
        # apply to Private Network connections" (scaleway/docs-content#865, the note on use-security-groups), so the
        # load balancer still reaches the servers over the Private Network. Named explicitly: without one, "a default
        # one will be created, which won't be tracked" (the SDK's `instance.Server` `security_group_id`), whose default
        # rules "allow all inbound traffic" (scaleway/docs-content#5751).
        security_group = scaleway.instance.SecurityGroup(
            f"{name}-sg",
            zone=zone,
            inbound_default_policy="drop",
            outbound_default_policy="accept",
            stateful=True,
            tags=tags,
            opts=child,
        )
        # "optional": "failing to respect the placement policy" does not stop the server (same page as above).
        placement = scaleway.instance.PlacementGroup(
            f"{name}-spread", zone=zone, policy_type="max_availability", policy_mode="optional", tags=tags, opts=child
        )
        cloud_config = pulumi.Output.from_input(args.image_to_run).apply(lambda image: docker_cloud_config(image, port))
        # cloud-init reads "the cloud-init key of the Instance's User Data"
        # (https://www.scaleway.com/en/docs/instances/how-to/use-cloud-init/), and only at first boot. The document goes
        # through `cloud_init` ("The cloud init script associated with this server"), which the provider writes as that
        # key at create (`userDataRequests.UserData["cloud-init"]`, terraform-provider-scaleway
        # internal/services/instance/server.go), not through `user_data`: Read copies every user-data key into
        # `user_data`, including the `ssh-host-fingerprints` an Ubuntu image adds (terraform-provider-scaleway#2800),
        # and never sets `cloud_init`, so a refresh can make `userData` differ from the program but not `cloudInit`.
        # Update ignores a changed `cloud_init` (it sends `user_data` only), and an in-place user-data change would
        # only warn that the "instance may need to be rebooted to use the new cloud init config" (same file). So a new
        # document (a new image) replaces the server (`replace_on_changes`,
        # https://www.pulumi.com/docs/iac/concepts/options/replaceonchanges/): created before the old one is deleted.
        server_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(replace_on_changes=["cloudInit"]))
        servers = [
            scaleway.instance.Server(
                fit_name(f"{name}-server-{index}", SERVER_NAME),
                type=site.server_type,
                image=SERVER_IMAGE,
                zone=zone,
                # A public IPv4 to pull the image ("If true a dynamic IP will be attached to the server", the SDK's
                # `enable_dynamic_ip`), closed by the security group; it may change, nothing points at it.
                enable_dynamic_ip=True,
                security_group_id=security_group.id,
                placement_group_id=placement.id,
                private_networks=[scaleway.instance.ServerPrivateNetworkArgs(pn_id=network.id)],
                cloud_init=cloud_config,
                tags=tags,
                opts=server_opts,
            )
            for index in range(site.servers)
        ]

        # A flexible IP of its own: "a public IP that can be held in your account even after you delete your Load
        # Balancer" (https://www.scaleway.com/en/docs/faq/loadbalancer/), so it outlives a replaced load balancer and
        # the DNS records keep pointing at it; "A public Load Balancer must have an IPv4 address"
        # (https://www.scaleway.com/en/docs/load-balancer/reference-content/load-balancers-limitations/).
        address = scaleway.loadbalancers.Ip(f"{name}-ip", zone=zone, tags=tags, opts=child)
        load_balancer = scaleway.loadbalancers.LoadBalancer(
            f"{name}-lb",
            zone=zone,
            type=site.load_balancer_type,
            ip_ids=[address.id],
            # A public Load Balancer "can optionally also be attached to up to eight different Private Networks"
            # (https://www.scaleway.com/en/docs/network/load-balancer/reference-content/public-private-accessibility/);
            # IPAM gives it an address there.
            private_networks=[scaleway.loadbalancers.LoadBalancerPrivateNetworkArgs(private_network_id=network.id)],
            tags=tags,
            opts=child,
        )
        certificate = self._certificate(name, args, site, load_balancer, child)
        # The backend forwards plain HTTP to each server's private IPv4 ("Backend server IP addresses list (IPv4 or
        # IPv6)", the SDK's `server_ips`; "HTTP protocol ... Traffic will be forwarded without encryption",
        # https://www.scaleway.com/en/docs/network/load-balancer/reference-content/configuring-backends/), and checks
        # each one with the service hostname as Host ("The HTTP host header to use for HC requests", the SDK's
        # `BackendHealthCheckHttpArgs`). The `health` drill's lever checks them over TLS instead: the servers speak
        # plain HTTP on that port, so the handshake fails and every server is marked down.
        healthy_code = site.health_check_code
        if args.fault is DrillFault.HEALTH:
            http_check = None
            https_check = scaleway.loadbalancers.BackendHealthCheckHttpsArgs(
                uri=hc.path, method="GET", code=healthy_code, host_header=host, sni=host
            )
        else:
            http_check = scaleway.loadbalancers.BackendHealthCheckHttpArgs(
                uri=hc.path, method="GET", code=healthy_code, host_header=host
            )
            https_check = None
        backend = scaleway.loadbalancers.Backend(
            f"{name}-backend",
            lb_id=load_balancer.id,
            forward_protocol="http",
            forward_port=port,
            server_ips=[server.private_ips.apply(private_ipv4) for server in servers],
            health_check_http=http_check,
            health_check_https=https_check,
            health_check_delay=f"{hc.interval_seconds}s",
            health_check_timeout=f"{min(5, hc.interval_seconds)}s",
            health_check_max_retries=hc.failure_threshold,
            opts=child,
        )
        # The HTTPS frontend, the load balancer's only listener: port 443 with the uploaded certificate. The `outage`
        # drill's lever removes it, so nothing answers on 443 while the servers keep running.
        if args.fault is not DrillFault.OUTAGE:
            scaleway.loadbalancers.Frontend(
                f"{name}-https",
                lb_id=load_balancer.id,
                backend_id=backend.id,
                inbound_port=443,
                certificate_ids=[certificate.id],
                opts=child,
            )

        self.register_endpoint(
            SiteEndpoint(
                role=args.role,
                cloud=site.cloud,
                region=site.region,
                target=address.ip_address,
                target_is_ip=True,
                address=address.ip_address,
            ),
            zone=zone,
            certificate_not_after=certificate.not_valid_after,
        )

    @staticmethod
    def _certificate(
        name: str,
        args: SiteArgs,
        site: ScalewaySiteSpec,
        load_balancer: scaleway.loadbalancers.LoadBalancer,
        child: pulumi.ResourceOptions,
    ) -> scaleway.loadbalancers.Certificate:
        """The hostname's Let's Encrypt certificate (`components/acme.py`), uploaded to the load balancer.

        Scaleway takes one "full PEM-formatted certificate, consisting of the entire certificate chain including public
        key, private key, and (optionally) Certificate Authorities" (`CreateCertificateRequestCustomCertificate`,
        scaleway/scaleway-sdk-go api/lb/v1/lb_sdk.go): the private key first, then the chain, as the provider's own
        acceptance test writes it (terraform-provider-scaleway internal/services/lb/certificate_test.go). The chain
        is `Sensitive` and `ForceNew` there (internal/services/lb/certificate.go), so a renewed certificate replaces
        the uploaded one: Pulumi creates the new one first, switches the frontend's `certificate_ids` to it, then
        deletes the old one, which Scaleway refuses while "the certificate is used on a frontend"
        (terraform-provider-scaleway#1546, why its docs ask for `create_before_destroy`).
        """
        issued = issue_certificate(name, args, site, child.parent)
        return scaleway.loadbalancers.Certificate(
            f"{name}-cert",
            lb_id=load_balancer.id,
            custom_certificate=scaleway.loadbalancers.CertificateCustomCertificateArgs(
                # A secret whatever the parts' own marks: it holds the private key.
                certificate_chain=pulumi.Output.secret(
                    pulumi.Output.concat(issued.private_key_pem, issued.full_chain_pem)
                )
            ),
            opts=child,
        )
