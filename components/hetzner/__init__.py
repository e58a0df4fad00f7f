"""Hetzner Cloud: the 'hetzner' site kind (servers behind a Load Balancer with a Let's Encrypt certificate by ACME
DNS-01, `site.py`). `plugin.py` declares it without importing Pulumi, the hcloud SDK or the ACME SDK."""
