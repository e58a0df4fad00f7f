"""The sandbox serving many hostnames (`Sandbox.start(others=...)`), and the watch benchmark that uses it, at small N.

Routing is the platforms': each hostname has its own failover record and its own certificate, chosen by SNI; a name
the sites do not serve gets the platform's default certificate; a fault is the service hostname's only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bascule.readiness.site import Trust, check_site
from bascule.sandbox import ADDRESSES, PRIMARY, SECONDARY, Sandbox, SandboxError
from bascule.sandbox.sandbox import SandboxStateError
from tests.conftest import have_pdns

pytestmark = pytest.mark.sandbox
ROOT = Path(__file__).resolve().parents[1]
OTHERS = ["svc-0001.sandbox.test", "svc-0002.sandbox.test"]

if not have_pdns():
    pytest.skip("pdns_server not installed (apt-get install pdns-server pdns-backend-bind)", allow_module_level=True)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox.start(tmp_path_factory.mktemp("others") / "sandbox", others=OTHERS)
    yield box
    box.stop()


def site(box: Sandbox, role: str, hostname: str) -> list[str]:
    """The readiness problems of `hostname` at site `role`, as `verify` and `watch` check it."""
    state = box.state
    trust = Trust(str(state.trust_bundle))
    found = check_site(role, ADDRESSES[role], state.https_port, hostname, state.service.health_path, trust, 5.0)
    assert found.certificate is not None
    return found.problems if found.problems else [f"ok {', '.join(found.certificate.names)}"]


def test_every_hostname_has_its_record_and_certificate(sandbox: Sandbox) -> None:
    assert sandbox.state.hostnames == ["checkout.sandbox.test", *OTHERS]
    for name in sandbox.state.hostnames:
        assert sandbox.resolve(name) == [ADDRESSES[PRIMARY]], name
        for role in ADDRESSES:
            assert site(sandbox, role, name) == [f"ok {name}"]
    cert, health = site(sandbox, PRIMARY, "svc-0003.sandbox.test")  # not served: the platform's certificate and 404
    assert "certificate is for default.sandbox.invalid, not svc-0003.sandbox.test" in cert
    assert "answered HTTP 404 (the platform's own answer" in health


def test_a_fault_is_the_service_hostnames_only(sandbox: Sandbox) -> None:
    sandbox.set_site_mode(SECONDARY, "unbound")
    try:
        (problem,) = site(sandbox, SECONDARY, sandbox.state.service.hostname)
        assert "answered HTTP 404" in problem
        assert site(sandbox, SECONDARY, OTHERS[0]) == [f"ok {OTHERS[0]}"]
    finally:
        sandbox.set_site_mode(SECONDARY, "healthy")


def test_other_hostnames_are_checked(sandbox: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match=r"svc\.elsewhere\.test"):
        Sandbox.start(tmp_path / "refused", others=["svc.elsewhere.test"])
    copy = tmp_path / "copy"
    copy.mkdir()
    state = json.loads((sandbox.dir / "state.json").read_text(encoding="utf-8"))
    state |= {"directory": str(copy), "others": ["svc-1.sandbox.test'"]}
    (copy / "state.json").write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(SandboxStateError, match="others"):
        Sandbox.load(copy)


def test_the_watch_benchmark_runs_all_healthy_at_small_n(tmp_path: Path) -> None:
    """`benchmarks/watch_scale.py` end to end: 5 hostnames, one round, every service healthy (no timing asserted)."""
    done = subprocess.run(
        [sys.executable, "benchmarks/watch_scale.py", "--services", "5", "--rounds", "1", "--interval", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("5 services (hostnames), concurrency 16")
    assert lines[2].split()[0] == "1" and lines[2].split()[-1] == "0", done.stdout  # round 1, none not healthy
