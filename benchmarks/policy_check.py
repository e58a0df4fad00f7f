"""Policy-check speed on synthetic stack exports of 1k, 10k and 100k resources.

    .venv/bin/python benchmarks/policy_check.py              # all sizes, 5 runs each
    .venv/bin/python benchmarks/policy_check.py --sizes 10000 --repeats 9

First `bascule check --export` end to end, as CI runs it (a fresh process per run, process start
included): per size the median wall time with its range, CPU time and peak memory (max RSS of that
process), then per resource the marginal time between one size and the previous one, and the growth of that
marginal time (1.0 is linear: each extra resource costs what the previous ones did). Targets: 10k resources
under 0.5 s, growth linear from 1k to 100k.

Then two paths over the same export inside one process: `bascule check` (read the export, build the
inventory, run every rule) and the pulumi_policy analyzer (the servicer's AnalyzeStack over protobuf
resources, as the Pulumi engine calls a policy pack; building the request is the engine's work and is not
timed). Each size runs in its own process so peak memory (max RSS) is that size's own.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import Summary, load_average, repeat

ROOT = Path(__file__).resolve().parent.parent

REGIONS = [("aws", "eu-west-3"), ("aws", "eu-central-1"), ("azure", "francecentral"), ("azure", "westeurope")]
PER_WORKLOAD = 20


def synthetic_export(size: int, seed: int = 7) -> dict[str, Any]:
    """Workloads of 20 resources: sites in one or two regions, VPC plumbing, a health check, failover records."""
    rng = random.Random(seed)
    stack = "urn:pulumi:bench::synthetic::"
    resources: list[dict[str, Any]] = []
    providers = {}
    for cloud, region in REGIONS:
        package = "aws" if cloud == "aws" else "azure-native"
        urn = f"{stack}pulumi:providers:{package}::{region}"
        key = "region" if cloud == "aws" else "location"
        providers[(cloud, region)] = f"{urn}::{region}-id"
        resources.append({"urn": urn, "type": f"pulumi:providers:{package}", "custom": True, "inputs": {key: region}})
    n = 0
    while len(resources) < size:
        n += 1
        name = f"w{n}"
        tags = {"workload": name, "criticality": "critical" if rng.random() < 0.5 else "standard"}
        sites = rng.sample(REGIONS, 1 if rng.random() < 0.1 else 2)
        for i in range(PER_WORKLOAD - 3):
            cloud, region = sites[i % len(sites)]
            if cloud == "aws":
                kind = ["aws:ecs/service:Service", "aws:lb/loadBalancer:LoadBalancer", "aws:ec2/subnet:Subnet",
                        "aws:ec2/securityGroup:SecurityGroup", "aws:rds/instance:Instance"][i % 5]  # fmt: skip
            else:
                kind = ["azure-native:app:ContainerApp", "azure-native:resources:ResourceGroup",
                        "azure-native:storage:StorageAccount"][i % 3]  # fmt: skip
            resources.append({"urn": f"{stack}{kind}::{name}-{i}", "type": kind, "custom": True,
                              "provider": providers[(cloud, region)], "inputs": {"tags": tags}})  # fmt: skip
        check = f"{stack}aws:route53/healthCheck:HealthCheck::{name}"
        resources.append({"urn": check, "type": "aws:route53/healthCheck:HealthCheck", "custom": True,
                          "provider": providers[("aws", "eu-west-3")],
                          "inputs": {"tags": tags, "requestInterval": 10, "failureThreshold": 3}})  # fmt: skip
        for policy in ("PRIMARY", "SECONDARY"):
            inputs = {"ttl": 60, "healthCheckId": f"{name}-hc", "name": f"{name}.example.com",
                      "failoverRoutingPolicies": [{"type": policy}], "tags": tags}  # fmt: skip
            resources.append({"urn": f"{stack}aws:route53/record:Record::{name}-{policy.lower()}",
                              "type": "aws:route53/record:Record", "custom": True,
                              "provider": providers[("aws", "eu-west-3")], "inputs": inputs})  # fmt: skip
    return {"version": 3, "deployment": {"resources": resources[:size]}}


def measure(size: int) -> dict[str, Any]:
    from google.protobuf import json_format, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2
    from pulumi_policy import EnforcementLevel
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    from bascule.check.verdicts import check
    from bascule.inventory.readers import read_export
    from bascule.inventory.records import build
    from bascule.policies.config import PackConfig
    from bascule.policies.pack import PACK_NAME, policies

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "export.json"
        path.write_text(json.dumps(synthetic_export(size)))
        start = time.perf_counter()
        inventory = build(read_export(path))
        results = check(inventory, PackConfig(), [])
        offline_s = time.perf_counter() - start
        export = json.loads(path.read_text())

    by_urn = {r["urn"]: r for r in export["deployment"]["resources"]}
    request = analyzer_pb2.AnalyzeStackRequest()
    for r in export["deployment"]["resources"]:
        item = request.resources.add(type=r["type"], urn=r["urn"], name=r["urn"].rsplit("::", 1)[1],
                                     properties=json_format.ParseDict(r["inputs"], struct_pb2.Struct()))  # fmt: skip
        if "provider" in r:
            p = by_urn[r["provider"].rsplit("::", 1)[0]]
            item.provider.CopyFrom(analyzer_pb2.AnalyzerProviderResource(
                type=p["type"], urn=p["urn"], name=p["urn"].rsplit("::", 1)[1],
                properties=json_format.ParseDict(p["inputs"], struct_pb2.Struct())))  # fmt: skip
    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.1.0", policies(), EnforcementLevel.ADVISORY)
    start = time.perf_counter()
    response = servicer.AnalyzeStack(request, None)
    pack_s = time.perf_counter() - start
    return {
        "size": size,
        "offline_s": offline_s,
        "pack_s": pack_s,
        "findings": len(results),
        "pack_findings": len(response.diagnostics),
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def end_to_end(sizes: list[int], repeats: int) -> None:
    """`bascule check --export FILE` per size: the figure a CI job waits for."""
    print(f"bascule check --export, end to end, median of {repeats} runs ({load_average()} before)")
    print(f"{'resources':>10} {'median s':>9} {'range s':>11} {'CPU s':>7} {'max RSS MiB':>12} "
          f"{'marginal us/resource':>21} {'growth':>7}")  # fmt: skip
    previous: tuple[int, Summary] | None = None
    marginal_before: float | None = None
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            path = Path(scratch) / f"export-{size}.json"
            path.write_text(json.dumps(synthetic_export(size)))
            command = [sys.executable, "-m", "bascule.cli", "check", "--export", str(path)]
            summary = repeat(command, ROOT, repeats)
            marginal, growth = "", ""
            if previous is not None:
                size_before, before = previous
                per_resource = (summary.median_s - before.median_s) / (size - size_before) * 1e6
                marginal = f"{per_resource:.1f}"
                if marginal_before is not None and marginal_before > 0:
                    growth = f"{per_resource / marginal_before:.2f}"
                marginal_before = per_resource
            print(f"{size:>10} {summary.median_s:>9.3f} {summary.spread:>11} {summary.cpu_median_s:>7.2f} "
                  f"{summary.max_rss_mib:>12,.0f} {marginal:>21} {growth:>7}")  # fmt: skip
            previous = (size, summary)
    print(f"({load_average()} after)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=5, help="End-to-end runs per size (the median is printed).")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    end_to_end(args.sizes, args.repeats)
    print("In one process: bascule check (read, inventory, rules) and the CrossGuard pack's analyzer")
    print(f"{'resources':>10} {'check s':>8} {'check res/s':>12} {'pack s':>8} {'pack res/s':>11} "
          f"{'findings':>9} {'max RSS MiB':>12}")  # fmt: skip
    for size in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(size)], capture_output=True, text=True,
                              check=True)  # fmt: skip
        m = json.loads(proc.stdout)
        same = "" if m["findings"] == m["pack_findings"] else f" (pack: {m['pack_findings']})"
        print(f"{size:>10} {m['offline_s']:>8.3f} {size / m['offline_s']:>12,.0f} {m['pack_s']:>8.3f} "
              f"{size / m['pack_s']:>11,.0f} {m['findings']:>9}{same} {m['max_rss_mib']:>12,.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
