"""Data standby: the 'postgres' kind, RDS for PostgreSQL published to Azure Flexible Server (`standby.py`).
`plugin.py` declares it (spec models, rules) without importing Pulumi or the SDKs of the `data` extra."""
