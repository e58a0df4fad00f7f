"""Across every example stack: each health check asks each site for the service hostname, and no standby is built
with a binding that needs the hostname to point at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bascule.components.program import main as program
from bascule.offline.engine import run_offline
from bascule.spec import load_stack_file

STACKS = sorted((Path(__file__).parent.parent / "stacks").glob("Pulumi.*.yaml"))


@pytest.mark.parametrize("path", STACKS, ids=[p.stem.removeprefix("Pulumi.") for p in STACKS])
def test_health_checks_send_the_hostname_and_no_binding_waits_for_dns(path: Path) -> None:
    config, spec = load_stack_file(path)
    run = run_offline(program, config, stack=path.stem.removeprefix("Pulumi."))
    hostnames = {s.name: s.hostname for s in spec.services}
    seen = 0
    for r in run.resources:
        service = r.name.split("-dns")[0]
        if r.type == "aws:route53/healthCheck:HealthCheck":
            assert "ipAddress" in r.inputs and r.inputs["fqdn"] == hostnames[service], r.name
            assert r.inputs["enableSni"] is (r.inputs["type"].startswith("HTTPS")), r.name
            seen += 1
        elif r.type == "aws:route53/record:Record" and r.inputs.get("failoverRoutingPolicies"):
            assert r.inputs.get("healthCheckId") or r.inputs["aliases"][0]["evaluateTargetHealth"], r.name
            seen += "aliases" in r.inputs  # an ALB: its target groups' health is the check
        elif r.type == "azure-native:trafficmanager:Profile":
            headers = r.inputs["monitorConfig"]["customHeaders"]
            assert headers == [{"name": "Host", "value": hostnames[service]}], r.name
            seen += 1
        elif r.type == "gcp:compute/healthCheck:HealthCheck":
            check = r.inputs.get("httpsHealthCheck") or r.inputs["httpHealthCheck"]
            assert check["host"] == hostnames[service], r.name
            seen += 1
        elif r.type == "pulumi-python:dynamic:Resource" and r.inputs.get("rtype") == "LUA":
            assert f"://{r.inputs['name']}:" in r.inputs["contents"][0], r.name
            seen += 1
        assert not r.type.startswith("gcp:compute/managedSslCertificate"), r.name
        assert r.type != "azure-native:app:ManagedCertificate", r.name
        if r.type == "azure-native:app:ContainerApp":
            assert "customDomains" not in r.inputs["configuration"]["ingress"], r.name
    assert seen >= len(spec.services), "a service without any health check"
