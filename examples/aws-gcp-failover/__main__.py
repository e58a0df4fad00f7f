"""A team's own Pulumi program: the checkout service on AWS, a warm standby on Cloud Run, Route 53 failover.

Nothing here comes from stack YAML: the service is a validated `ServiceSpec` built in Python (the site kind is
implied by the class), the primary runs an image from the team's own ECR repository (a value only known at
deploy time), and each site is deployed through a provider the team configured: its own account role and
default tags. `bascule check --program examples/aws-gcp-failover` checks it offline.
"""

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from bascule.components import FailoverService, FailoverServiceArgs, SiteInputs
from bascule.spec import AwsSiteSpec, GcpSiteSpec, HealthCheckSpec, Route53DnsSpec, ServiceSpec

config = pulumi.Config()
version = config.get("version") or "1.4.2"
team_tags = {"team": "checkout", "cost-centre": "cc-4711"}

# One provider per site: the workload account's deploy role, with the team's default tags on every resource.
# https://www.pulumi.com/registry/packages/aws/api-docs/provider/ (assumeRoles, defaultTags)
aws_workload = aws.Provider(
    "workload",
    region="eu-west-3",
    assume_roles=[aws.ProviderAssumeRoleArgs(role_arn="arn:aws:iam::210987654321:role/checkout-deploy")],
    default_tags=aws.ProviderDefaultTagsArgs(tags=team_tags),
)
# https://www.pulumi.com/registry/packages/gcp/api-docs/provider/ (project, region, defaultLabels)
gcp_standby = gcp.Provider("standby", project="shop-dr-eu", region="europe-west9", default_labels=team_tags)

# The image the primary runs lives in the team's ECR repository; its URL is an Output.
# https://www.pulumi.com/registry/packages/aws/api-docs/ecr/repository/
repository = aws.ecr.Repository(
    "checkout", image_tag_mutability="IMMUTABLE", opts=pulumi.ResourceOptions(provider=aws_workload)
)
primary_image = repository.repository_url.apply(lambda url: f"{url}:{version}")

spec = ServiceSpec(
    name="checkout",
    hostname="checkout.shop.example.com",
    rto_seconds=300,
    # No image here: the primary runs the one the program computes (SiteInputs.image below).
    primary=AwsSiteSpec(region="eu-west-3"),
    secondary=GcpSiteSpec(
        project="shop-dr-eu",
        region="europe-west9",
        image=f"europe-docker.pkg.dev/shop-dr-eu/images/checkout:{version}",
    ),
    health_check=HealthCheckSpec(path="/healthz"),
    dns=Route53DnsSpec(zone="shop.example.com"),
)

service = FailoverService(
    "checkout",
    FailoverServiceArgs(
        service=spec,
        primary=SiteInputs(image=primary_image, provider=aws_workload),
        secondary=SiteInputs(provider=gcp_standby),
    ),
)

pulumi.export("hostname", service.hostname)
pulumi.export("endpoints", service.endpoints)
pulumi.export("health_urls", service.health_urls)
