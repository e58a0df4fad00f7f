"""Publishing the status page: the folder `bascule watch` writes (index.html, status.json), uploaded to the status
site's bucket through the S3 API (`publish.py`), so the page lives away from the cloud whose outage it reports.

A capability: imports the foundations (`bascule.spec`, `bascule.io`) and the status site's spec
(`bascule.components.status.plugin`, which imports no SDK); boto3 loads only when a page is published."""
