"""The status site: a static status page (index.html, status.json) served from object storage at a provider other
than the primaries' (`site.py`: Scaleway Object Storage behind Edge Services, on its own hostname), and the scheduled
job that runs `bascule watch` there and publishes the page. `plugin.py` is the spec of the stack's `bascule:status`
section and imports neither Pulumi nor the Scaleway SDK."""
