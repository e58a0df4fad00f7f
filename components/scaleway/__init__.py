"""Scaleway: the 'scaleway' site kind (Instances behind a Load Balancer with a Let's Encrypt certificate by ACME
DNS-01, `site.py`). `plugin.py` declares it without importing Pulumi, the Scaleway SDK or the ACME SDK."""
