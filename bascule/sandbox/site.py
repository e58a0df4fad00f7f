"""A sandbox site: one cloud platform's front end on a loopback address, as strict as the real ones.

HTTPS with SNI routing: a client asking for the service hostname gets the service certificate (or, in the
`wrong-cert` and `expired-cert` modes, the platform default or an expired one); any other name gets the
platform's default certificate. HTTP routing on Host: a request for a name the site does not serve, or for
the hostname while it is `unbound`, gets the platform's 404, which does not name the app. Plain HTTP only
redirects to HTTPS. Every answer of the app names the site in `X-Bascule-Site`.

The mode is read from a control file on every request, so PowerDNS's checker, the drill's probes and
`bascule sandbox site` all see the same state, and it is visible on disk after a crash. The hostname's certificate
(`--service-cert`, the sandbox CA's by default; the ACME one for the secondary of `sandbox up --acme`) is read again
whenever its file is replaced, as a load balancer serves an uploaded certificate from its next handshake.
With `--data FILE` the site is an app with a database, as on a real platform: the health path also asks its database
(a primary whose database died is unhealthy, so DNS moves with the data), and `POST /canary` commits one row through
the database the file names for writes, answering its id. The file names a read and a write connection, both to the
database beside the site as the app role: the secondary's writes are refused (read-only) until its database is
promoted; once the primary's database is fenced its login is refused, so its writes and its health fail, as the
databases themselves say.
With `--others FILE` (hostnames, one a line) the site is also the platform of other services, each on its own
certificate (`pki/others/NAME.pem`) and routed on SNI and Host the same way: apps that answer their health path and
take no faults (the mode is the service hostname's), so a benchmark can watch many services on one sandbox.
Run as `python -m bascule.sandbox.site --name primary --address 127.0.0.2 --https-port N --http-port M ...`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bascule.readiness.target import SITE_HEADER
from bascule.sandbox.modes import EXPIRED_CERT, HEALTHY, SLOW, SLOW_SECONDS, UNBOUND, UNHEALTHY, WRONG_CERT


def read_mode(control: Path) -> str:
    try:
        return control.read_text(encoding="utf-8").strip() or HEALTHY
    except FileNotFoundError:
        return HEALTHY


def _context(pem: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


class ServedCertificate:
    """The service certificate as the platform holds it now: read again when its file changes (a renewed certificate
    uploaded, as to a load balancer, served from the next handshake without a restart), the platform's default while
    there is none (its certificate not issued yet). The file is replaced whole (rename), never written in place."""

    def __init__(self, path: Path, default: ssl.SSLContext):
        self.path, self.default = path, default
        self._seen: tuple[int, int] | None = None
        self._context = default
        self._lock = threading.Lock()

    def context(self) -> ssl.SSLContext:
        try:
            found = self.path.stat()
        except FileNotFoundError:
            return self.default
        stamp = (found.st_ino, found.st_mtime_ns)
        with self._lock:  # handshakes run in the requests' threads
            if stamp != self._seen:
                try:
                    self._context = _context(self.path)
                except (ssl.SSLError, OSError):
                    return self._context  # unreadable: keep serving the one before, as a platform would
                self._seen = stamp
            return self._context


def tls_contexts(
    pki: Path, hostname: str, control: Path, service_cert: Path | None = None, others: tuple[str, ...] = ()
) -> ssl.SSLContext:
    """The listening context: the platform default, switched per handshake by SNI and the site's mode.

    `service_cert`: the file holding the hostname's certificate and key (default: the sandbox CA's `service.pem`).
    `others`: other hostnames served, each on its own `pki/others/NAME.pem`."""
    default = _context(pki / "default.pem")
    by_mode = {EXPIRED_CERT: _context(pki / "expired.pem"), WRONG_CERT: default}
    service = ServedCertificate(service_cert or pki / "service.pem", default)
    other = {name: _context(pki / "others" / f"{name}.pem") for name in others}

    def choose(sock: ssl.SSLObject, server_name: str | None, _initial: ssl.SSLContext) -> None:
        if server_name == hostname:
            mode = read_mode(control)
            sock.context = by_mode[mode] if mode in by_mode else service.context()
        elif server_name in other:
            sock.context = other[server_name]

    default.sni_callback = choose
    return default


def read_data(path: Path) -> dict[str, Any]:
    """The site's connections: {"read": conninfo, "write": conninfo, "write_role": primary|secondary}."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _database_error(data: Path | None, key: str) -> str | None:
    """None when the site's `key` database answers, else why not (one line).

    A connection that fails (the server ended it, `AdminShutdown`, or closed it before saying why) is tried once
    more, as an app's pool reconnects: the standby's promotion ends its read-only sessions so the app comes back
    writable, and a health check caught in that instant failed once, which with PowerDNS 4.7 (it switches on the
    first failure, see `sandbox.py`) marked the standby down while the primary was down: every address answered
    (fail open), a drill failed by the sandbox's own timing. A database that is down or refuses the login fails
    both tries."""
    if data is None:
        return None
    import psycopg  # only sites with a database need the driver

    def ask() -> None:
        with psycopg.connect(read_data(data)[key], autocommit=True) as conn:
            conn.execute("SELECT 1")

    try:
        try:
            ask()
        except psycopg.OperationalError:
            ask()
    except (psycopg.Error, OSError, KeyError, ValueError) as exc:
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    return None


def make_handler(
    name: str, hostname: str, health_path: str, control: Path, data: Path | None = None, others: tuple[str, ...] = ()
) -> type[BaseHTTPRequestHandler]:
    other = frozenset(others)

    class Handler(BaseHTTPRequestHandler):
        server_version = "bascule-sandbox-site"
        timeout = 10

        def _host(self) -> str:
            headers = getattr(self, "headers", None)  # not there yet when the request line itself was refused
            return ((headers.get("Host") if headers else None) or "").rsplit(":", 1)[0].lower()

        def _bound(self) -> bool:
            if self._host() != hostname or read_mode(control) == UNBOUND:
                self._answer(404, "no app is bound to this hostname on this platform\n", app=False)
                return False
            return True

        def do_GET(self) -> None:
            if self._host() in other:  # another service's app: healthy, no faults (see the module's docstring)
                self._answer(200, "ok\n" if self.path.split("?")[0] == health_path else f"served by {name}\n")
                return
            if not self._bound():
                return
            mode = read_mode(control)
            status, body = 200, f"served by {name}\n"
            if self.path.split("?")[0] == health_path:
                problem = _database_error(data, "read")
                if mode == UNHEALTHY:
                    status, body = 503, "unhealthy (fault injected)\n"
                elif problem is not None:
                    status, body = 503, f"unhealthy: database: {problem}\n"
                elif mode == SLOW:
                    time.sleep(SLOW_SECONDS)
                    body = "ok, slowly\n"
                else:
                    body = "ok\n"
            self._answer(status, body)

        def do_POST(self) -> None:
            """`POST /canary`: commit one row through the write database; 200 and its id only once committed."""
            if not self._bound():
                return
            if data is None or self.path.split("?")[0] != "/canary":
                self._answer(404, "not found\n")
                return
            import psycopg

            try:
                settings = read_data(data)
                with psycopg.connect(settings["write"], autocommit=True) as conn:
                    row = conn.execute("INSERT INTO canary (site) VALUES (%s) RETURNING id", (name,)).fetchone()
            except (psycopg.Error, OSError, KeyError, ValueError) as exc:
                self._answer(503, f"write failed: {' '.join(str(exc).split())[:200]}\n")
                return
            assert row is not None  # INSERT ... RETURNING always returns the row it inserted
            body = json.dumps({"id": int(row[0]), "site": name, "database": settings["write_role"]})
            self._answer(200, body + "\n")

        def _answer(self, status: int, body: str, app: bool = True) -> None:
            data = body.encode()
            self.send_response(status)
            if app:
                self.send_header(SITE_HEADER, name)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Only the service hostname's health checks are logged (to the site's log file), to show when the DNS
            checker probed."""
            if health_path in self.requestline and not (other and self._host() in other):
                sys.stderr.write(f"{time.monotonic():.3f} {self.address_string()} {format % args}\n")
                sys.stderr.flush()

    return Handler


def make_redirect_handler(https_port: int) -> type[BaseHTTPRequestHandler]:
    class Redirect(BaseHTTPRequestHandler):
        """Plain HTTP answers only with a redirect to HTTPS, as the platforms' front ends do."""

        server_version = "bascule-sandbox-site"
        timeout = 10

        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            self.send_response(301)
            self.send_header("Location", f"https://{host}:{https_port}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Redirect


BACKLOG = 1024
"""Connections the kernel queues before the site accepts them (socketserver's default is 5). PowerDNS starts every
health check of an interval at once: with many hostnames (`--others`) a queue of 5 drops the rest of the burst's
connections, which retry after a second, past the check's timeout, and the names flap to the secondary."""


class TlsServer(ThreadingHTTPServer):
    """The TLS handshake runs in the request's thread, so a stalled client cannot block the accept loop."""

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext):
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        request.settimeout(10)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that rejected our certificate: exactly what a platform sees too
        super().finish_request(tls, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up mid-answer (health checkers on timeout) are normal, not tracebacks."""
        exc = sys.exc_info()[1]
        sys.stderr.write(f"{time.monotonic():.3f} {client_address}: {type(exc).__name__}: {exc}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--https-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--hostname", required=True, help="The service hostname this site is bound to.")
    parser.add_argument("--pki", type=Path, required=True, help="Folder with default.pem, service.pem, expired.pem.")
    parser.add_argument(
        "--service-cert", type=Path, help="The hostname's certificate and key (default: service.pem of --pki)."
    )
    parser.add_argument("--health-path", default="/healthz")
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument("--data", type=Path, help="JSON file naming the site's read and write databases.")
    parser.add_argument("--others", type=Path, help="Other hostnames to serve, one a line (pki/others/NAME.pem).")
    args = parser.parse_args(argv)
    if not ipaddress.ip_address(args.address).is_loopback:
        parser.error(f"--address {args.address} is not a loopback address; the sandbox never listens elsewhere")
    hostname = args.hostname.lower()
    others = tuple(args.others.read_text(encoding="utf-8").lower().split()) if args.others else ()
    context = tls_contexts(args.pki, hostname, args.control, args.service_cert, others)
    handler = make_handler(args.name, hostname, args.health_path, args.control, args.data, others)
    secure = TlsServer((args.address, args.https_port), handler, context)
    plain = ThreadingHTTPServer((args.address, args.http_port), make_redirect_handler(args.https_port))
    plain.daemon_threads = True
    threading.Thread(target=plain.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    secure.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
