"""The contract between sandbox sites and whoever steers or probes them (no imports: cheap for the site)."""

SITE_HEADER = "X-Bascule-Site"
"""Response header naming the site that served a request; drills read it to see where traffic went."""

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
SLOW = "slow"
SLOW_SECONDS = 3.0
"""How long a `slow` site takes to answer its health path: above the sandbox's health-check timeout."""
