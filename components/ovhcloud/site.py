"""The 'ovhcloud' site kind: instances behind an OVHcloud Public Cloud Load Balancer with a Let's Encrypt certificate.

Every resource is one of pulumi-ovh's Public Cloud resources (OVHcloud's `/v2/publicCloud/project/{id}/...` API, as
terraform-provider-ovh's resources of the same names call it), in the spec's project and region. Cited below: a
`<name>.md` is terraform-provider-ovh's docs/resources/<name>.md (master); the load balancer's resources have no such
page on any ref of that repository, so for them the pulumi-ovh 2.22 docstrings (`pulumi_ovh/<module>.py`) are cited.

The instances boot Debian 12; cloud-init installs Docker and runs the service image, restarted always, so the site is
warm from its first `up` (never scaled to zero). They sit in an ANTI_AFFINITY instance group ("spreads the members
across distinct hypervisors", cloud_instance_group.md) on a private network with no public interface ("No public
interface at all: the instance is only reachable from the vRack. Add an ovh_cloud_gateway on the same subnet to give
it egress", cloud_instance.md); a gateway on their subnet gives them egress to pull the image, and a security group
admits only the load balancer's subnet on the container port.

The load balancer (OpenStack Octavia, "Our Load Balancer as a Service (LBaaS) solution is based on OpenStack Octavia",
OVHcloud's Let's Encrypt tutorial cited below) has its VIP on the same subnet and a floating IP associated to it: the
site's fixed address, which DNS backends answer and probe with Host and SNI = the hostname. Its TERMINATED_HTTPS
listener on 443 serves the certificate from the project's Key Manager and forwards plain HTTP to the pool, whose
health monitor sends the service hostname as Host.

The certificate comes from Let's Encrypt through pulumiverse-acme (`components/acme.py`) by a DNS-01 challenge in the
service's zone, so it is issued and renewed while the hostname still points at the other site, and is stored as the
PKCS#12 secret OVHcloud's tutorial for this load balancer uploads by hand: "create a PKCS#12 package ... send it to
OpenStack Barbican ... `openstack secret store ... -t 'application/octet-stream' -e 'base64'`", then "listener create
... --protocol TERMINATED_HTTPS ... --default-tls-container=<the secret>" (https://github.com/ovh/docs,
pages/platform/network-services/tutorials-01-secure-lb-letsencrypt/guide.en-us.md).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Literal

import pulumi
import pulumi_ovh as ovh

from bascule.components.acme import issue_certificate
from bascule.components.base import Site, SiteArgs, SiteEndpoint, caller_provider, default_provider_allowed, fit_name
from bascule.components.ovhcloud.plugin import IMAGE_NAME, INSTANCE_NAME, USER_DATA_MAX, OvhcloudSiteSpec
from bascule.io.escaping import quoted
from bascule.spec import DrillFault

SUBNET_RANGE = "10.0.1.0/24"
"""The site's private subnet, holding the instances and the load balancer's VIP."""

SUBNET_GATEWAY = "10.0.1.1"
"""The subnet's default gateway, the first address as in pulumi-ovh 2.22's example for the subnet
(`gateway_ip="10.0.0.1"` with `cidr="10.0.0.0/24"`, docstring of `pulumi_ovh/cloud_network_private_vrack_subnet.py`):
set explicitly so the gateway's router interface and the instances' default route do not rest on an API default."""

SUBNET_RESOLVERS = ["213.186.33.99"]
"""The resolver DHCP hands the instances: OVHcloud's, as in the same SDK example (`dns_nameservers=["213.186.33.99"]`).
Without one, cloud-init could not install Docker nor pull the image: "the private network is delivery with no DNS
Server" (ovh/terraform-provider-ovh#90, 2023); another report has the v2 subnet default to OVHcloud's resolvers
(ovh/terraform-provider-ovh#919). Set explicitly, the instances resolve either way."""

GATEWAY_MODEL = "S"
"""The smallest external gateway ("External gateway sizing model (`S`, `M`, `L`, ...). Required when `enabled` is
true", cloud_gateway.md): egress for image pulls, and the router the floating IP needs."""

HEALTHY_CODES = "200-399"
"""What the pool's health monitor counts as healthy: Route 53's rule for the same endpoint ("an HTTP status code of
2xx or 3xx", https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html),
in Octavia's range syntax ("A range, such as 200-204", `expected_codes` in Octavia's API reference,
https://docs.openstack.org/api-ref/load-balancer/v2/#create-health-monitor)."""

IMAGE_REPLACES = ["userData", "imageId", "flavorId"]
"""Inputs whose change must replace an instance, not alter it in place: the provider rebuilds an instance for a new
`image_id` ("changing it rebuilds the instance and **wipes the root disk**", pulumi-ovh 2.22 docstring of
`CloudInstance.image_id`), resizes it for a new `flavor_id`, and user data is read at first boot only (cloud-init), so
an in-place change would either wipe a serving disk or change nothing. Replaced, each new instance is created
(auto-named) before the old one is deleted (Pulumi's default replacement), and its pool member follows (`address`
"Changing this value recreates the resource", docstring of `pulumi_ovh/cloud_loadbalancer_pool_member.py`). Pulumi
replaces all the instances in the same `up` and waits for none to be healthy (it has no readiness gate), so such a
change is a standby outage of a few minutes while cloud-init installs Docker and pulls the image (docs/deploy.md)."""

IMAGE_PINNED = ["imageId"]
"""Without `os_image_id`, the image found by name at the first `up` is kept (`ignore_changes`): Pulumi reuses the
stored value of an ignored input, so a refreshed catalogue image under the same name replaces nothing."""


def cloud_config(image: str, port: int) -> str:
    """Cloud-init user data that installs Docker and runs `image` with its `port` published, restarted always.

    The same document as the Hetzner site's (cloud-init's `packages` and `runcmd` modules,
    https://cloudinit.readthedocs.io/en/latest/topics/examples.html): each command an argument list, so the image
    reference never meets a shell; the pull retried until it succeeds, since `runcmd` runs on first boot only and
    `--restart always` applies only to a container that exists."""
    pull = ["sh", "-c", 'until docker pull "$0"; do sleep 15; done', image]
    published = f"{port}:{port}"
    run = ["docker", "run", "--detach", "--name", "service", "--restart", "always", "--publish", published, image]
    document = "\n".join(
        [
            "#cloud-config",
            "package_update: true",
            f"packages: {json.dumps(['docker.io'])}",
            "runcmd:",
            f"  - {json.dumps(['systemctl', 'enable', '--now', 'docker'])}",
            f"  - {json.dumps(pull)}",
            f"  - {json.dumps(run)}",
            "",
        ]
    )
    if len(base64.b64encode(document.encode())) > USER_DATA_MAX:
        raise pulumi.RunError(f"the image reference makes cloud-init user data over OpenStack's {USER_DATA_MAX} bytes")
    return document


def _catalogue_id(
    entries: Sequence[ovh.outputs.GetCloudInstanceFlavorsFlavorResult | ovh.outputs.GetCloudInstanceImagesImageResult],
    wanted: str,
    field: str,
    region: str,
    by: Literal["name", "id"] = "name",
) -> str:
    """The id of the catalogue entry (flavor or image) whose `by` is `wanted`, or a one-line error naming the spec
    field."""
    for entry in entries:
        if getattr(entry, by) == wanted:
            return entry.id
    raise pulumi.RunError(f"{field}: {quoted(wanted)} is not in the {region} catalogue of the project")


def _private_ip(state: ovh.outputs.CloudInstanceCurrentState | None) -> str:
    """The instance's FIXED IPv4 on its private network (`current_state.networks[].addresses[]`, cloud_instance.md:
    "`FIXED` for an address assigned to the interface itself"); the instance has no other interface."""
    for network in (state.networks if state else None) or []:
        for address in network.addresses or []:
            if network.id and address.type == "FIXED" and address.version == 4 and address.ip:
                return address.ip
    raise pulumi.RunError("an OVHcloud instance reports no private IPv4 address")


def _floating_ip(state: ovh.outputs.CloudFloatingIpCurrentState | None) -> str:
    if state is None or not state.ip:
        raise pulumi.RunError("the OVHcloud floating IP reports no address")
    return state.ip


def _secret_ref(state: ovh.outputs.CloudKeyManagerSecretCurrentState | None) -> str:
    if state is None or not state.secret_ref:
        raise pulumi.RunError("the OVHcloud Key Manager secret reports no reference")
    return state.secret_ref


class OvhcloudSite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        site = args.site
        if not isinstance(site, OvhcloudSiteSpec):
            raise TypeError(f"OvhcloudSite needs an 'ovhcloud' site spec, got '{site.kind}'")
        args.check(name)
        # The caller's provider (another project's keys), else the stack's default provider: `ovh:endpoint`,
        # `ovh:applicationKey`... config or OVH_ENDPOINT, OVH_APPLICATION_KEY... (docs/deploy.md). Every resource names
        # its project and region; the provider has neither.
        provider = caller_provider(opts, "ovh", name)
        if provider is None:
            default_provider_allowed("ovh", name, "SiteInputs.provider")
        super().__init__("bascule:ovhcloud:OvhcloudSite", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        host, hc, port = args.service.hostname, args.service.health_check, site.container_port

        network = ovh.CloudNetworkPrivateVrack(
            f"{name}-net", service_name=site.project_id, region=site.region, opts=child
        )
        subnet = ovh.CloudNetworkPrivateVrackSubnet(
            f"{name}-subnet",
            network_id=network.id,
            cidr=SUBNET_RANGE,
            dhcp_enabled=True,
            gateway_ip=SUBNET_GATEWAY,
            dns_nameservers=SUBNET_RESOLVERS,
            service_name=site.project_id,
            region=site.region,
            opts=child,
        )
        # The router the floating IP needs ("the subnet must be attached to a router with an external gateway",
        # pulumi-ovh 2.22 docstring of `CloudLoadbalancerNetworkArgs.ip`) and the instances' only way out.
        gateway = ovh.CloudGateway(
            f"{name}-gw",
            external_gateway=ovh.CloudGatewayExternalGatewayArgs(enabled=True, model=GATEWAY_MODEL),
            subnet_ids=[subnet.id],
            service_name=site.project_id,
            region=site.region,
            opts=child,
        )
        # Only the load balancer's subnet, only the container port; OpenStack adds the default egress rule itself
        # (cloud_security_group.md, NOTE).
        security_group = ovh.CloudSecurityGroup(
            f"{name}-sg",
            rules=[
                ovh.CloudSecurityGroupRuleArgs(
                    direction="INGRESS",
                    ethernet_type="IPV4",
                    protocol="TCP",
                    port_range_min=port,
                    port_range_max=port,
                    remote_ip_prefix=SUBNET_RANGE,
                    description="the load balancer to the service",
                )
            ],
            service_name=site.project_id,
            region=site.region,
            opts=child,
        )
        spread = ovh.CloudInstanceGroup(
            f"{name}-spread", policy="ANTI_AFFINITY", service_name=site.project_id, region=site.region, opts=child
        )
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=provider)
        flavors = ovh.get_cloud_instance_flavors_output(service_name=site.project_id, region=site.region, opts=invoke)
        images = ovh.get_cloud_instance_images_output(service_name=site.project_id, region=site.region, opts=invoke)
        role = args.role.value
        flavor_id = flavors.flavors.apply(lambda f: _catalogue_id(f, site.flavor, f"{role}.flavor", site.region))
        if site.os_image_id is None:
            image_id = images.images.apply(lambda i: _catalogue_id(i, IMAGE_NAME, f"{role}.os_image_id", site.region))
        else:
            wanted = site.os_image_id
            image_id = images.images.apply(lambda i: _catalogue_id(i, wanted, f"{role}.os_image_id", site.region, "id"))
        pinned = IMAGE_PINNED if site.os_image_id is None else None
        user_data = pulumi.Output.from_input(args.image_to_run).apply(lambda image: cloud_config(image, port))
        instances = [
            ovh.CloudInstance(
                fit_name(f"{name}-vm-{index}", INSTANCE_NAME),
                flavor_id=flavor_id,
                image_id=image_id,
                group_id=spread.id,
                networks=[ovh.CloudInstanceNetworkArgs(network_id=network.id, subnet_id=subnet.id)],
                security_group_ids=[security_group.id],
                user_data=user_data,
                service_name=site.project_id,
                region=site.region,
                opts=pulumi.ResourceOptions.merge(
                    child,
                    pulumi.ResourceOptions(
                        replace_on_changes=IMAGE_REPLACES, ignore_changes=pinned, depends_on=[gateway]
                    ),
                ),
            )
            for index in range(site.instances)
        ]

        address = ovh.CloudFloatingIp(
            f"{name}-ip",
            description=f"{args.service.name} {role}",
            service_name=site.project_id,
            region=site.region,
            opts=child,
        )
        public_ip = address.current_state.apply(_floating_ip)
        load_balancer = ovh.CloudLoadbalancer(
            f"{name}-lb",
            flavor_name=site.load_balancer_flavor,
            # An IP outside the subnet "must be an existing floating IP of the project in that region, not already
            # associated with a port ... the floating IP is then associated to the VIP port" (pulumi-ovh 2.22
            # docstring of `CloudLoadbalancerNetworkArgs.ip`, `pulumi_ovh/_inputs.py`).
            network=ovh.CloudLoadbalancerNetworkArgs(id=network.id, subnet_id=subnet.id, ip=public_ip),
            service_name=site.project_id,
            region=site.region,
            # `flavor_name`, `network` and `region` are "Changing this value recreates the resource" (docstrings of
            # `pulumi_ovh/cloud_loadbalancer.py`). Pulumi's default replacement creates the new load balancer first,
            # asking for the floating IP the old VIP still holds, which the rule above refuses: the old one is
            # deleted first instead, so a `load_balancer_flavor` change takes the site down while the new one builds.
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[gateway], delete_before_replace=True)
            ),
        )
        secret = self._certificate(name, args, site, child)
        pool = ovh.CloudLoadbalancerPool(
            f"{name}-pool",
            loadbalancer_id=load_balancer.id,
            service_name=site.project_id,
            protocol="HTTP",  # TLS ends at the listener; the instances serve plain HTTP on their private network
            algorithm="ROUND_ROBIN",
            # The load balancer's own check of each member, with the service hostname as Host: Octavia's
            # `domain_name` is "injected into the HTTP Host Header to the backend server for HTTP health check", for
            # `http_version` 1.1 only (Octavia's commit "Support Host header inject for healthmonitor HTTP 1.1 health
            # check", api-ref/source/v2/healthmonitor.inc, https://opendev.org/openstack/octavia).
            health_monitor=ovh.CloudLoadbalancerPoolHealthMonitorArgs(
                type="HTTP",
                delay=10,
                timeout=5,
                max_retries=3,
                url_path=hc.path,
                http_method="GET",
                http_version="1.1",
                domain_name=host,
                expected_codes=HEALTHY_CODES,
            ),
            opts=child,
        )
        ovh.CloudLoadbalancerListener(
            f"{name}-https",
            loadbalancer_id=load_balancer.id,
            service_name=site.project_id,
            protocol="TERMINATED_HTTPS",
            protocol_port=443,
            default_pool_id=pool.id,
            default_tls_container_ref=secret.current_state.apply(_secret_ref),
            opts=child,
        )
        # The `health` lever: each member's monitor pointed at the next port, which the security group keeps closed
        # ("Port used by the health monitor for this member", pulumi-ovh 2.22 docstring of
        # `CloudLoadbalancerPoolMemberMonitorArgs.port`, `pulumi_ovh/_inputs.py`), so every member fails its check
        # while still serving; Octavia's HAProxy then has no server to send a request to. Outside the drill the
        # monitor names the container port explicitly rather than being left out: the provider sends `monitor` in an
        # update only when the plan has one (`ToUpdate`, terraform-provider-ovh
        # ovh/types_cloud_loadbalancer_pool_member.go, branch dev/aamstutz/apiv2-resources, `json:"monitor,omitempty"`),
        # so a removed monitor would leave the drill's port in place; a port value change is always sent.
        monitor = ovh.CloudLoadbalancerPoolMemberMonitorArgs(port=port + 1 if args.fault is DrillFault.HEALTH else port)
        if args.fault is not DrillFault.OUTAGE:
            for index, instance in enumerate(instances):
                ovh.CloudLoadbalancerPoolMember(
                    f"{name}-member-{index}",
                    loadbalancer_id=load_balancer.id,
                    pool_id=pool.id,
                    service_name=site.project_id,
                    address=instance.current_state.apply(_private_ip),
                    protocol_port=port,
                    subnet_id=subnet.id,
                    monitor=monitor,
                    opts=child,
                )

        self.register_endpoint(
            SiteEndpoint(
                role=args.role,
                cloud=site.cloud,
                region=site.region,
                target=public_ip,
                target_is_ip=True,
                address=public_ip,
            )
        )

    @staticmethod
    def _certificate(
        name: str, args: SiteArgs, site: OvhcloudSiteSpec, child: pulumi.ResourceOptions
    ) -> ovh.CloudKeyManagerSecret:
        """The hostname's Let's Encrypt certificate (`components/acme.py`) as a PKCS#12 secret in the project's Key
        Manager (Barbican), which the listener references.

        `payload` is "Secret payload data (base64-encoded)" and, like every input but `metadata`, forces a new secret
        (cloud_key_manager_secret.md): a renewed certificate creates a new secret under a new auto-name, the listener
        is switched to it, then the old one is deleted.
        """
        issued = issue_certificate(name, args, site, child.parent)
        return ovh.CloudKeyManagerSecret(
            f"{name}-cert",
            secret_type="OPAQUE",
            payload=issued.pkcs12_base64,
            payload_content_type="APPLICATION_OCTET_STREAM",
            service_name=site.project_id,
            region=site.region,
            opts=child,
        )
