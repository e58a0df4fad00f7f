"""Bring your own: the 'endpoint' site kind, a site Bascule routes to and health-checks but does not create
(`site.py`). `plugin.py` declares it without importing Pulumi."""
