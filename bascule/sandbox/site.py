"""A sandbox site: one cloud platform's front end on a loopback address, as strict as the real ones.

HTTPS with SNI routing: a client asking for the service hostname gets the service certificate (or, in the
`wrong-cert` and `expired-cert` modes, the platform default or an expired one); any other name gets the
platform's default certificate. HTTP routing on Host: a request for a name the site does not serve, or for
the hostname while it is `unbound`, gets the platform's 404, which does not name the app. Plain HTTP only
redirects to HTTPS. Every answer of the app names the site in `X-Bascule-Site`.

The mode is read from a control file on every request, so PowerDNS's checker, the drill's probes and
`bascule sandbox site` all see the same state, and it is visible on disk after a crash.
Run as `python -m bascule.sandbox.site --name primary --address 127.0.0.2 --https-port N --http-port M ...`.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bascule.sandbox.modes import EXPIRED_CERT, HEALTHY, SITE_HEADER, SLOW, SLOW_SECONDS, UNBOUND, UNHEALTHY, WRONG_CERT


def read_mode(control: Path) -> str:
    try:
        return control.read_text(encoding="utf-8").strip() or HEALTHY
    except FileNotFoundError:
        return HEALTHY


def _context(pem: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


def tls_contexts(pki: Path, hostname: str, control: Path) -> ssl.SSLContext:
    """The listening context: the platform default, switched per handshake by SNI and the site's mode."""
    default = _context(pki / "default.pem")
    by_mode = {EXPIRED_CERT: _context(pki / "expired.pem"), WRONG_CERT: default}
    service = _context(pki / "service.pem")

    def choose(sock: ssl.SSLObject, server_name: str | None, _initial: ssl.SSLContext) -> None:
        if server_name == hostname:
            sock.context = by_mode.get(read_mode(control), service)

    default.sni_callback = choose
    return default


def make_handler(name: str, hostname: str, health_path: str, control: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "bascule-sandbox-site"
        timeout = 10

        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
            mode = read_mode(control)
            if host != hostname or mode == UNBOUND:
                self._answer(404, "no app is bound to this hostname on this platform\n", app=False)
                return
            status, body = 200, f"served by {name}\n"
            if self.path.split("?")[0] == health_path:
                if mode == UNHEALTHY:
                    status, body = 503, "unhealthy (fault injected)\n"
                elif mode == SLOW:
                    time.sleep(SLOW_SECONDS)
                    body = "ok, slowly\n"
                else:
                    body = "ok\n"
            self._answer(status, body)

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
            """Only health checks are logged (to the site's log file), to show when the DNS checker probed."""
            if health_path in self.requestline:
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


class TlsServer(ThreadingHTTPServer):
    """The TLS handshake runs in the request's thread, so a stalled client cannot block the accept loop."""

    daemon_threads = True

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
    parser.add_argument("--health-path", default="/healthz")
    parser.add_argument("--control", type=Path, required=True)
    args = parser.parse_args(argv)
    if not ipaddress.ip_address(args.address).is_loopback:
        parser.error(f"--address {args.address} is not a loopback address; the sandbox never listens elsewhere")
    hostname = args.hostname.lower()
    context = tls_contexts(args.pki, hostname, args.control)
    handler = make_handler(args.name, hostname, args.health_path, args.control)
    secure = TlsServer((args.address, args.https_port), handler, context)
    plain = ThreadingHTTPServer((args.address, args.http_port), make_redirect_handler(args.https_port))
    plain.daemon_threads = True
    threading.Thread(target=plain.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    secure.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
