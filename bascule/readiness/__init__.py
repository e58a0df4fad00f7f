"""What a client sees: a service's target (hostname, resolvers, how each site is recognised), DNS and HTTPS
probes, and each site's readiness checked at its own address (TLS for the hostname, certificate days left,
hostname binding, health, identity). `verify` is this package's assessment; drills probe through it.

Imports no other capability: only `bascule.io` and the standard library, httpx, dnspython and cryptography.
Cheap to import: the sandbox's site processes read `target.SITE_HEADER` from here.
"""
