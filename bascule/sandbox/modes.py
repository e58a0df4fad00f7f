"""The contract between sandbox sites and whoever steers or probes them (no imports: cheap for the site)."""

HEALTHY = "healthy"
"""Bound to the hostname, valid certificate, health path answers 200."""
UNHEALTHY = "unhealthy"
"""The health path answers 503 (the `health` fault)."""
DOWN = "down"
"""The site's process is stopped: connections are refused (the `outage` fault)."""
UNBOUND = "unbound"
"""TLS for the hostname succeeds, but the platform routes no app to it and answers 404 (custom domain never added)."""
WRONG_CERT = "wrong-cert"
"""The platform's default certificate is presented for the hostname (its certificate was never issued)."""
EXPIRED_CERT = "expired-cert"
"""The hostname's certificate has expired (a standby gets no traffic, so nobody noticed)."""
SLOW = "slow"
"""The health path answers after `SLOW_SECONDS`, beyond every health checker's timeout."""
MODES = (HEALTHY, UNHEALTHY, DOWN, UNBOUND, WRONG_CERT, EXPIRED_CERT, SLOW)
SLOW_SECONDS = 3.0
