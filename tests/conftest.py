"""Shared fixtures: service specs as users write them, and offline runs of the real root program."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
import yaml
from hypothesis import settings

from bascule.components.program import main as program
from bascule.drills.control import SandboxControl
from bascule.drills.lock import DrillLock
from bascule.facts import Cloud
from bascule.io.processes import alive
from bascule.offline.engine import OfflineRun, RegisteredResource, run_offline
from bascule.sandbox import Sandbox, SandboxError
from bascule.sandbox import database as db
from bascule.sandbox.sandbox import find_pdns
from bascule.spec import SERVICES_KEY, AwsSiteSpec, EndpointSiteSpec, Route53DnsSpec, ServiceSpec

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"

# CI (`CI=true`, as `.ci/run` is run) explores the same examples on every run, so a landing never depends on which
# random inputs a run drew; a developer's run draws new ones and finds the next variant
# (https://hypothesis.readthedocs.io/en/latest/settings.html#hypothesis.settings.derandomize).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def stack_config(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((STACKS / f"Pulumi.{name}.yaml").read_text())["config"])


PROGRAM_SPEC = ServiceSpec(
    name="svc",
    hostname="svc.example.com",
    primary=AwsSiteSpec(region="eu-west-3", image="ghcr.io/example/svc:1"),
    secondary=EndpointSiteSpec(provider=Cloud.SCALEWAY, region="fr-par", address="203.0.113.10"),
    dns=Route53DnsSpec(zone="example.com"),
)
"""A service as a program builds it in Python (an AWS primary, a bring-your-own secondary): the component API tests'."""


@pytest.fixture
def dev_service() -> dict[str, Any]:
    """A deep copy of the dev stack's one service, to mutate per test."""
    return copy.deepcopy(stack_config("dev")[SERVICES_KEY][0])


class Plan:
    """An offline run with lookups tests need; every lookup fails loudly when nothing matches."""

    def __init__(self, run: OfflineRun):
        self.run = run
        self.resources = run.resources
        self.by_urn = {r.urn: r for r in run.resources}

    def of_type(self, token: str) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type == token]

    def named(self, name: str, token: str | None = None) -> RegisteredResource:
        found = [r for r in self.resources if r.name == name and token in (None, r.type)]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]


@pytest.fixture
def plan_services() -> Callable[..., Plan]:
    def run(services: list[dict[str, Any]], extra: dict[str, Any] | None = None, stack: str = "test") -> Plan:
        config = {SERVICES_KEY: services, **(extra or {})}
        return Plan(run_offline(program, config, stack=stack))

    return run


def have_postgres() -> bool:
    """Whether PostgreSQL 15's server (initdb, postgres) is installed; data tests skip without it, except in CI."""
    try:
        db.find_bindir()
    except db.DatabaseError:
        return False
    return True


def need_pdns_and_postgres() -> None:
    """Module-level guard of the data sandbox tests: skip without PowerDNS or PostgreSQL 15, except in CI, where
    they must be."""
    if not (have_pdns() and have_postgres()):
        if os.environ.get("CI"):
            raise RuntimeError("pdns_server or postgresql-15 is missing in CI: scripts/setup.sh installs both")
        pytest.skip("needs pdns-server and postgresql-15 (Debian packages)", allow_module_level=True)


def have_pdns() -> bool:
    """Whether PowerDNS is installed; tests that need it skip without it, except in CI, where it must be."""
    try:
        find_pdns()
    except SandboxError:
        return False
    return True


def empty_lock(sandbox_dir: Path, locks: Path) -> Path:
    """An empty lock on the sandbox in `sandbox_dir`: what a crash between create and write left with non-atomic
    locks. A drill reads it as stale and refuses; `drill recover` removes it."""
    sandbox = Sandbox.load(sandbox_dir)
    assert sandbox is not None
    path = DrillLock(locks, SandboxControl(sandbox).lock_key()).path
    locks.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return path


def backup_sandbox(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Sandbox]:
    """A module's sandbox with the PostgreSQL pair and the S3 store (`data=True, backups=True`), for a fixture to
    `yield from`: stopped after the module, with no process of it left."""
    sandbox = Sandbox.start(tmp_path_factory.mktemp(name) / "sandbox", data=True, backups=True)
    yield sandbox
    sandbox.stop()
    assert not any(alive(pid) for pid in sandbox.state.pids.values())


def wait_until(check: Callable[[], bool], timeout: float = 15) -> bool:
    """Poll `check` until it holds or `timeout` passes; real processes (DNS, sites) change state on their own clock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
"""Headless, no GPU, and nothing the browser would fetch on its own (updates, sync, QUIC probes): a page test sees
only what the page asks for."""


CHROMIUM_MISSING = "chromium not installed (apt-get install chromium; scripts/setup.sh installs it)"


def need_chromium() -> None:
    """Module-level guard of the browser tests: skip without Debian's chromium, except in CI, where it must be."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            raise RuntimeError("chromium is missing in CI: scripts/setup.sh must install Debian's chromium package")
        pytest.skip(CHROMIUM_MISSING, allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright (which brings no browser of its own: it drives Debian's)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class BrowserPage:
    """A fresh headless Chromium (its own profile folder) on one page, opening folders served over HTTP on 127.0.0.1.

    `open(folder, path)` serves `folder` on an OS-chosen port and loads `path` from it; `errors` collects what the
    page reported as wrong (console errors, uncaught exceptions, failed requests), which a test asserts empty."""

    def __init__(self, page: Any, serve: Callable[[Path], str]):
        self.page = page
        self.errors: list[str] = []
        self._serve = serve
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"exception: {exc}"))
        page.on("requestfailed", lambda req: self.errors.append(f"request failed: {req.url} {req.failure}"))

    def _console(self, msg: Any) -> None:
        # Chromium asks every site for /favicon.ico by itself; a page that links none is not wrong for its 404.
        if msg.type == "error" and not str(msg.location.get("url", "")).endswith("/favicon.ico"):
            self.errors.append(f"console: {msg.text} ({msg.location.get('url', '')})")

    def open(self, folder: Path, path: str = "index.html") -> Any:
        self.page.goto(f"{self._serve(folder)}/{path}", wait_until="load")
        return self.page


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[BrowserPage]:
    """A `BrowserPage`: skipped without Debian's chromium locally, an error under CI=true (CI must not skip it)."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: scripts/setup.sh must install Debian's chromium package")
        pytest.skip(CHROMIUM_MISSING)
    sync_api = pytest.importorskip("playwright.sync_api")
    servers: list[ThreadingHTTPServer] = []

    def serve(folder: Path) -> str:
        class Quiet(SimpleHTTPRequestHandler):
            """Always the file as it is now: SimpleHTTPRequestHandler answers a reload's If-Modified-Since by the
            file's mtime in whole seconds, so a page rewritten within the second it was first served came back
            304 and the browser showed the old one (a test saw `healthy` after the watch wrote `degraded`)."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(folder), **kwargs)

            def send_head(self) -> Any:
                del self.headers["If-Modified-Since"]
                return super().send_head()

            def end_headers(self) -> None:
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        servers.append(server)
        Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    profile = tmp_path / "chromium-profile"  # a fresh --user-data-dir: no cache, cookies or state from another run
    try:
        with sync_api.sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, args=CHROMIUM_FLAGS, viewport={"width": 1200, "height": 900}
            )
            try:
                yield BrowserPage(context.new_page(), serve)
            finally:
                context.close()
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@contextmanager
def serve_pack(python: str, pack: Path, env: dict[str, str] | None = None) -> Iterator[Any]:
    """A policy pack started the way the engine starts it: its `__main__.py` run in its folder by `python`, the
    port read from stdout; yields an Analyzer client of it."""
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    proc = subprocess.Popen([python, "__main__.py"], cwd=pack, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().decode().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def standby_resource(sandbox: Sandbox, service: str = "checkout", stack: str = "prod") -> dict[str, Any]:
    """A `PostgresStandby` as `pulumi stack export --show-secrets` lists it, its `bascule_data` pointing at the
    sandbox's two real clusters (as the component's points at RDS and Flexible Server): every key of the contract,
    every secret in Pulumi's envelope."""
    from bascule.io.secrets import SECRET_SIG, SIG_KEY
    from bascule.sandbox import PRIMARY, SECONDARY
    from bascule.sandbox import database as db
    from bascule.spec.data import OUTPUT, STANDBY_TYPE

    data = sandbox.state.data
    assert data is not None, "the sandbox was started without --data"

    def secret(value: Any) -> dict[str, str]:
        return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(value)}

    def end(role: str, provider: str) -> dict[str, Any]:
        cluster = data.clusters[role]
        return {"host": cluster.address, "port": cluster.port, "user": db.USER, "password": secret(cluster.password),
                "sslmode": "disable", "provider": provider, "app_password": secret(data.app_password)}  # fmt: skip

    output = {"service": service, "databases": [db.DATABASE], "app_role": db.APP_ROLE,
              "primary": end(PRIMARY, "aws-rds"), "standby": end(SECONDARY, "azure-flexible"),
              "replication": {"user": db.REPLICATOR, "password": secret(data.replication_password)},
              "publications": {db.DATABASE: db.PUBLICATION}, "subscriptions": {db.DATABASE: db.SUBSCRIPTION},
              "wal_keep_mb": db.WAL_KEEP_MB, "rpo_seconds": sandbox.state.service.rpo_seconds}  # fmt: skip
    return {"urn": f"urn:pulumi:{stack}::shop::{STANDBY_TYPE}::{service}-data", "type": STANDBY_TYPE,
            "custom": False, "outputs": {OUTPUT: output}}  # fmt: skip
