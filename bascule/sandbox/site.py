"""A sandbox site: a tiny HTTP server on a loopback address that stands in for one cloud.

Every answer names the site in `X-Bascule-Site`, so a drill sees which side really served a request.
Its health is steered through a control file rather than signals, so a fault survives the server being
probed from two processes (PowerDNS's checker and the drill) and is visible on disk after a crash.
Run as `python -m bascule.sandbox.site --name primary --address 127.0.0.2 --port 8080 --control FILE`.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bascule.sandbox.modes import HEALTHY, SITE_HEADER, SLOW, SLOW_SECONDS, UNHEALTHY


def read_mode(control: Path) -> str:
    try:
        return control.read_text(encoding="utf-8").strip() or HEALTHY
    except FileNotFoundError:
        return HEALTHY


def make_handler(name: str, health_path: str, control: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "bascule-sandbox-site"

        def do_GET(self) -> None:
            status, body = 200, f"served by {name}\n"
            if self.path.split("?")[0] == health_path:
                mode = read_mode(control)
                if mode == UNHEALTHY:
                    status, body = 503, "unhealthy (fault injected)\n"
                elif mode == SLOW:
                    time.sleep(SLOW_SECONDS)
                    body = "ok, slowly\n"
                else:
                    body = "ok\n"
            data = body.encode()
            self.send_response(status)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--health-path", default="/healthz")
    parser.add_argument("--control", type=Path, required=True)
    args = parser.parse_args(argv)
    if not ipaddress.ip_address(args.address).is_loopback:
        parser.error(f"--address {args.address} is not a loopback address; the sandbox never listens elsewhere")
    server = ThreadingHTTPServer((args.address, args.port), make_handler(args.name, args.health_path, args.control))
    server.daemon_threads = True
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
