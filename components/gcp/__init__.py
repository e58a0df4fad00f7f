"""GCP: the 'gcp' site kind (Cloud Run behind a global HTTPS load balancer, `site.py`) and the 'clouddns' DNS backend
(`cloud_dns.py`). `plugin.py` declares both without importing Pulumi or the GCP SDK."""
