"""The concentration-risk audit: per critical workload, where its sites run (provider, region, legal home), the
policy verdicts and the last drills; rendered as JSON, HTML and the DORA register of information (CSV).

May import: `bascule.policies`, `bascule.inventory`, `bascule.drills` (history only), `bascule.spec`,
`bascule.facts`, `bascule.io`.
"""
