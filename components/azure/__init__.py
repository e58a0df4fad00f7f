"""Azure: the 'azure' site kind (Container Apps behind Front Door, `site.py`) and the 'trafficmanager' DNS backend
(`traffic_manager.py`). `plugin.py` declares both without importing Pulumi or the Azure SDK."""
