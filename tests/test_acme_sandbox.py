"""The standby's certificate the way a real standby gets it: ACME DNS-01 while DNS answers the primary.

Real processes only: PowerDNS with the zone behind its HTTP API, Debian's pebble (the ACME server, validating for
real: `PEBBLE_VA_ALWAYS_VALID` is never set), lego (the ACME client, its `pdns` DNS provider) and the sandbox's sites.
The secondary's certificate must come from pebble through a DNS-01 challenge while the hostname answers the primary;
a renewal replaces it only when due; `verify` shows the ACME issuer and days left, and fails when renewal stopped;
a drill passes over it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from bascule.drills.journal import read_journal
from bascule.sandbox import ADDRESSES, PRIMARY, SECONDARY, Sandbox, SandboxError
from bascule.sandbox.acme import LIFETIME_DAYS, RENEW_DAYS, STOPPED_DAYS_LEFT, AcmeError, find_tools
from tests.conftest import have_pdns

pytestmark = pytest.mark.sandbox
BASCULE = [sys.executable, "-m", "bascule.cli"]
HOST = "checkout.sandbox.test"


def have_acme() -> bool:
    """pebble, lego and the gsqlite3 backend are installed; tests skip without them, except in CI, where they must be."""
    try:
        find_tools()
    except AcmeError:
        return False
    return True


if not (have_pdns() and have_acme()):
    if os.environ.get("CI"):
        raise RuntimeError("pebble, lego or PowerDNS is missing in CI: scripts/setup.sh must install them")
    pytest.skip("needs PowerDNS, pebble and lego (apt-get install pebble lego pdns-server pdns-backend-sqlite3)",
                allow_module_level=True)  # fmt: skip


def cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASCULE, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env)


def served(box: Sandbox, ca: str | None = None) -> x509.Certificate:
    """The certificate the secondary presents to a client of the hostname (SNI = the hostname); with `ca`, the chain
    must verify against that file alone."""
    context = ssl.create_default_context(cafile=ca)
    if ca is None:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection((ADDRESSES[SECONDARY], box.state.https_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """`bascule sandbox up --acme`, its folder and the status it printed."""
    directory = tmp_path_factory.mktemp("acme") / "sandbox"
    proc = cli("sandbox", "up", "--acme", "--sandbox-dir", str(directory), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield directory, json.loads(proc.stdout)
    cli("sandbox", "down", "--sandbox-dir", str(directory))


@pytest.fixture
def box(started: tuple[Path, dict[str, Any]]) -> Sandbox:
    sandbox = Sandbox.load(started[0])
    assert sandbox is not None and sandbox.running()
    return sandbox


def test_certificate_issued_by_pebble_through_dns01_while_dns_answers_the_primary(
    started: tuple[Path, dict[str, Any]], box: Sandbox
) -> None:
    _, status = started
    assert status["answer"] == [ADDRESSES[PRIMARY]]
    acme = status["acme"]
    # What the hostname answered, through the DNS pebble asks, for as long as lego ran: the primary alone.
    assert acme["issued_while"] == [ADDRESSES[PRIMARY]]
    assert acme["certificate"]["issuer"].startswith("CN=Pebble Intermediate CA")
    assert LIFETIME_DAYS - 1 < acme["certificate"]["days_left"] <= LIFETIME_DAYS

    # The secondary serves it, and its chain ends at pebble's root, fetched here from pebble itself.
    assert box.state.acme is not None
    root = httpx.get(f"https://127.0.0.1:{box.state.acme.management_port}/roots/0",
                     verify=ssl.create_default_context(cafile=str(box.state.pki.ca)), trust_env=False)  # fmt: skip
    pebble_root = box.dir / "pebble-root.pem"
    pebble_root.write_text(root.text)
    cert = served(box, str(pebble_root))
    assert format(cert.serial_number, "x") == acme["certificate"]["serial"]
    assert cert.subject.rfc4514_string() == f"CN={HOST}"
    # The primary keeps the sandbox CA's: pebble's root does not verify it.
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection((ADDRESSES[PRIMARY], box.state.https_port), timeout=5) as raw,
    ):
        ssl.create_default_context(cafile=str(pebble_root)).wrap_socket(raw, server_hostname=HOST)

    # DNS-01 and nothing else, validated for real: lego had only a DNS solver and answered a challenge; pebble runs
    # without PEBBLE_VA_ALWAYS_VALID.
    log = (box.dir / "acme" / "lego.log").read_text()
    assert "acme: use dns-01 solver" in log and "The server validated our request" in log
    assert "skipping challenge" not in log
    environ = Path(f"/proc/{box.state.pids['pebble']}/environ").read_bytes().split(b"\0")
    assert b"PEBBLE_VA_NOSLEEP=1" in environ
    assert not any(item.startswith(b"PEBBLE_VA_ALWAYS_VALID") for item in environ)
    # The zone is PowerDNS's, behind its API, and the challenge record is gone once validated.
    assert box.resolve(f"_acme-challenge.{HOST}", "TXT") == []


def test_renewal_replaces_the_certificate_only_when_due(box: Sandbox) -> None:
    before = served(box)
    site_pid = box.state.pids[SECONDARY]

    proc = cli("sandbox", "renew", "--sandbox-dir", str(box.dir), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["renewed"] is False  # 47 days left, renewed at 30
    assert served(box).serial_number == before.serial_number

    # Forced by the threshold (at most 60 whole days left: always), while a client keeps asking the recursor.
    answers: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            answers.update(box.resolve(HOST, port=box.state.resolver_port))
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        proc = cli("sandbox", "renew", "--days", "60", "--sandbox-dir", str(box.dir), "--format", "json")
    finally:
        done.set()
        watcher.join()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["renewed"] is True
    assert result["answers"] == [ADDRESSES[PRIMARY]]
    assert answers == {ADDRESSES[PRIMARY]}
    after = served(box, str(box.state.trust_bundle))
    assert format(after.serial_number, "x") == result["certificate"]["serial"] != format(before.serial_number, "x")
    assert after.issuer.rfc4514_string().startswith("CN=Pebble Intermediate CA")
    # Uploaded as to a load balancer: the site serves it from its next handshake, without a restart.
    box.refresh()
    assert box.state.pids[SECONDARY] == site_pid


def test_verify_shows_the_acme_issuer_and_days_left(box: Sandbox) -> None:
    proc = cli("verify", "--local", "--sandbox-dir", str(box.dir), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sites = {site["role"]: site for site in json.loads(proc.stdout)["services"][0]["sites"]}
    secondary = sites[SECONDARY]
    assert secondary["trusted"] is True
    assert secondary["certificate"]["issuer"].startswith("CN=Pebble Intermediate CA")
    assert secondary["certificate"]["days_left"] > RENEW_DAYS
    assert secondary["acme"]["renew_days"] == RENEW_DAYS
    assert secondary["acme"]["directory"] == box.acme_server().directory_url
    assert sites[PRIMARY]["acme"] is None and sites[PRIMARY]["certificate"]["issuer"] == "CN=Bascule sandbox CA"

    text = cli("verify", "--local", "--sandbox-dir", str(box.dir)).stdout
    line = next(line for line in text.splitlines() if line.lstrip().startswith("ok  secondary"))
    assert "from CN=Pebble Intermediate CA" in line
    assert f"(ACME {box.acme_server().directory_url}, renewed at {RENEW_DAYS} days left)" in line


def test_renewal_stopped_fails_renewal_and_verify_until_mended(box: Sandbox) -> None:
    where = ["--sandbox-dir", str(box.dir)]
    try:
        for _ in range(2):  # twice: the second finds renewal stopped already, and still ages the certificate
            proc = cli("sandbox", "acme", "renewal-stopped", *where)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert f"{STOPPED_DAYS_LEFT} days left" in proc.stdout

        # The scheduled renewal fails, and says why: PowerDNS refuses the job's key, so no challenge is answered.
        proc = cli("sandbox", "renew", *where)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "renewal failed" in proc.stderr and "401" in proc.stderr

        proc = cli("verify", "--local", *where)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        problem = next(line for line in proc.stdout.splitlines() if line.strip().startswith("problem:"))
        assert f"secondary 127.0.0.3: certificate for {HOST} expires in {STOPPED_DAYS_LEFT} days" in problem
        assert f"its ACME renewal has stopped (it renews with {RENEW_DAYS} days left" in problem
        status = json.loads(cli("sandbox", "status", *where, "--format", "json").stdout)
        assert status["acme"]["mode"] == "renewal-stopped"
    finally:
        assert cli("sandbox", "acme", "healthy", *where).returncode == 0
    # Mended: the next scheduled renewal renews (the certificate is due), and the standby is ready again.
    proc = cli("sandbox", "renew", *where, "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["renewed"] is True
    assert cli("verify", "--local", *where).returncode == 0


def test_drill_passes_over_the_acme_certified_secondary(box: Sandbox, tmp_path: Path) -> None:
    """The `switch` fault goes through the PowerDNS API here (the zone is not a file), and the drill's clients reach
    the secondary trusting pebble's root."""
    out = tmp_path / "report"
    proc = cli("drill", "--local", "--fault", "switch", "--sandbox-dir", str(box.dir), "--out", str(out),
               "--lock-dir", str(tmp_path / "locks"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((out / "report.json").read_text())["status"] == "pass"
    readiness = next(e for e in read_journal(out / "journal.jsonl") if e["kind"] == "readiness")
    secondary = next(site for site in readiness["sites"] if site["role"] == SECONDARY)
    assert secondary["trusted"] is True and secondary["certificate"]["issuer"].startswith("CN=Pebble")
    assert box.resolve(HOST) == [ADDRESSES[PRIMARY]]


def test_up_refuses_a_running_sandbox_without_the_acme_certificate_asked(box: Sandbox) -> None:
    proc = cli("sandbox", "up", "--sandbox-dir", str(box.dir))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "with an ACME certificate, not no ACME certificate" in proc.stderr


def test_drill_with_acme_starts_its_own_sandbox_and_leaves_nothing(tmp_path: Path) -> None:
    """`bascule drill --local --acme` where no sandbox runs: its own, with pebble, stopped and removed after."""
    scratch = Path(tempfile.mkdtemp(prefix="bascule-acme-tmp-"))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "TMPDIR": str(scratch)}
    out = tmp_path / "report"
    try:
        proc = cli("drill", "--local", "--acme", "--out", str(out), env=env, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        readiness = next(e for e in read_journal(out / "journal.jsonl") if e["kind"] == "readiness")
        secondary = next(site for site in readiness["sites"] if site["role"] == SECONDARY)
        assert secondary["acme"] is not None and secondary["certificate"]["issuer"].startswith("CN=Pebble")
        assert list(scratch.iterdir()) == []  # the own sandbox's folder is gone, pebble's included
        running = [p for p in Path("/proc").glob("[0-9]*") if _names(p, scratch)]
        assert running == []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _names(proc: Path, folder: Path) -> bool:
    try:
        return str(folder).encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def test_acme_without_pebble_or_lego_names_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "lego" else real(name, *a, **k))
    with pytest.raises(SandboxError, match=r"--acme needs lego; install them with: sudo apt-get install pebble lego"):
        Sandbox.start(tmp_path / "box", acme=True)
    assert not (tmp_path / "box").exists()
