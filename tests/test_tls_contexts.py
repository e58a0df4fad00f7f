"""SSL contexts in readiness checks: shared only where nothing changes them, reloaded when the trust store changes.

httpcore sets the ALPN protocols on the context it is given for every connection, so a context shared between the
watch's threads would be changed while other threads make connections from it (OpenSSL forbids it: a garbled
ClientHello, or a crash). These tests run a real TLS site in-process (the sandbox's PKI and site handler).
"""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bascule.readiness import site as site_module
from bascule.readiness.site import Trust, TrustStoreError, bundle_problem, check_site, client
from bascule.readiness.target import DrillTarget
from bascule.sandbox.pki import SandboxPki
from bascule.sandbox.site import TlsServer, make_handler, tls_contexts
from bascule.watch.cycle import Settings, run_round
from bascule.watch.observe import Watched

HOST = "svc.sandbox.test"
THREADS = 16
CHECKS_PER_THREAD = 3


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return SandboxPki.create(tmp_path_factory.mktemp("pki"), HOST)


@pytest.fixture(scope="module")
def port(pki: SandboxPki) -> Iterator[int]:
    control = pki.directory / "mode"
    handler = make_handler("primary", HOST, "/healthz", control)
    server = TlsServer(("127.0.0.1", 0), handler, tls_contexts(pki.directory, HOST, control))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_concurrent_checks_never_set_alpn_on_a_context_another_thread_uses(
    pki: SandboxPki, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust = Trust(str(pki.ca))
    shared = {id(trust.verifying()), id(site_module._unverified())}
    original = ssl.SSLContext.set_alpn_protocols
    seen: list[tuple[ssl.SSLContext, int]] = []  # the contexts themselves: kept alive, so no id is reused
    guard = threading.Lock()

    def spy(context: ssl.SSLContext, protocols: Any) -> None:
        with guard:
            seen.append((context, threading.get_ident()))
        original(context, protocols)

    monkeypatch.setattr(ssl.SSLContext, "set_alpn_protocols", spy)
    start = threading.Barrier(THREADS)
    results: list[site_module.SiteReadiness] = []

    def checks() -> None:
        start.wait()
        for _ in range(CHECKS_PER_THREAD):
            found = check_site("primary", "127.0.0.1", port, HOST, "/healthz", trust, timeout=10)
            with guard:
                results.append(found)

    threads = [threading.Thread(target=checks) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(results) == THREADS * CHECKS_PER_THREAD
    assert all(r.ready and r.trusted and r.status == 200 for r in results), [r.problems for r in results]
    assert len(seen) == THREADS * CHECKS_PER_THREAD  # one health request per check, each through httpcore
    threads_of: dict[int, set[int]] = {}
    for context, ident in seen:
        threads_of.setdefault(id(context), set()).add(ident)
    assert all(len(idents) == 1 for idents in threads_of.values())  # no context changed from two threads
    assert not shared & threads_of.keys()  # the shared contexts never reach httpx
    assert len(threads_of) == len(seen)  # in fact one context per client


def test_a_verifying_client_gets_its_own_context(pki: SandboxPki, port: int) -> None:
    trust = Trust(str(pki.ca))
    with client(trust) as first, client(trust) as second:
        contexts = [c._transport._pool._ssl_context for c in (first, second)]  # type: ignore[attr-defined]
        answer = first.get(f"https://127.0.0.1:{port}/healthz", headers={"Host": HOST},
                           extensions={"sni_hostname": HOST})  # fmt: skip
    assert answer.status_code == 200
    assert contexts[0] is not contexts[1]
    assert trust.verifying() not in contexts


def test_a_bundle_replaced_or_the_system_store_changed_is_loaded_again(
    pki: SandboxPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    shutil.copy(pki.ca, bundle)
    trust = Trust(str(bundle))
    first = trust.verifying()
    assert trust.verifying() is first
    bundle.write_bytes(pki.ca.read_bytes() + b"\n")  # edited: its size changes
    assert trust.verifying() is not first

    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # OpenSSL's default CA file, as ssl.get_default_verify_paths says
    system = Trust().verifying()
    assert Trust().verifying() is system
    replaced = tmp_path / "new.pem"
    shutil.copy(pki.ca, replaced)
    replaced.replace(bundle)  # as a ca-certificates update does: a new file in its place
    assert Trust().verifying() is not system


def test_a_bundle_removed_is_the_trust_stores_fault_not_the_sites(pki: SandboxPki, port: int, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    shutil.copy(pki.ca, bundle)
    trust = Trust(str(bundle))
    target = DrillTarget("checkout", HOST, (), {}, {"primary": "127.0.0.1", "secondary": "127.0.0.1"}, port,
                         "/healthz", 10.0, "in-process site", ca_bundle=str(bundle))  # fmt: skip
    settings = Settings(tmp_path / "state.json", tmp_path / "locks", trust, timeout=10, concurrency=4)
    services = [Watched(target, "lock-1"), Watched(target, "lock-2")]
    assert all(s.ready for seen in run_round(services, settings, None).observations for s in seen.readiness.sites)

    bundle.unlink()
    with pytest.raises(TrustStoreError, match=r"CA bundle '.*ca\.pem' \(--ca-bundle\) cannot be loaded"):
        check_site("primary", "127.0.0.1", port, HOST, "/healthz", trust)
    found = run_round(services, settings, None)
    assert found.observations == []
    assert len(found.errors) == 1
    assert "--ca-bundle" in found.errors[0] and "ca.pem" in found.errors[0]
    assert "no TLS answer" not in found.errors[0]
    assert not found.healthy

    bundle.write_text("-----BEGIN CERTIFICATE-----\nhalf rewritten\n", encoding="utf-8")
    assert "OpenSSL cannot load it" in (bundle_problem(bundle) or "")
    assert len(run_round(services, settings, None).errors) == 1
