"""The offline policy check: the rules of `bascule.policies` run over an inventory, with waivers, enforcement
levels and the outputs CI reads (text, JSON, SARIF, JUnit).

May import: `bascule.policies`, `bascule.inventory`, `bascule.spec`, `bascule.io`.
"""
