"""OVHcloud: the 'ovhcloud' site kind (Public Cloud instances behind a Load Balancer with a Let's Encrypt certificate
by ACME DNS-01, `site.py`). `plugin.py` declares it without importing Pulumi, the OVH SDK or the ACME SDK."""
