"""One normalised record per resource, whatever it came from: an offline run, a `pulumi stack export`, a
`pulumi preview --json`, or the resources CrossGuard hands a policy pack. Region, cloud, jurisdiction, service
and role are resolved here once; unknown values stay unknown.

May import: `bascule.offline` (its records), `bascule.spec` (tag keys), `bascule.facts`, `bascule.io`.
"""
