"""Data standby: the 'postgres' kind, RDS for PostgreSQL published to Azure Flexible Server (`standby.py`), whose
SQL on the standby a job beside it runs (`sync.py`). `plugin.py` declares it (spec models, rules) without importing
Pulumi or the SDKs of the `data` extra."""
