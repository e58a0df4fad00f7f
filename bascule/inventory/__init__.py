"""One normalised record per resource, whatever it came from: an offline run, a `pulumi stack export`, a
`pulumi preview --json`, or the resources CrossGuard hands a policy pack. Region, cloud, jurisdiction, service
and role are resolved here once; unknown values stay unknown.

`sources.py` reads an inventory from whichever source the user has (check and audit share it), including this
repository's program planned for a stack file (`plan_stack`).

May import: `bascule.offline` (its records, and runs), `bascule.spec` (tag keys, stack files), `bascule.facts`,
`bascule.io`, and `bascule.components` (only the root program, loaded when a stack is planned).
"""
