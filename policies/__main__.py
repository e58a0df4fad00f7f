"""Entry point Pulumi runs for `pulumi preview --policy-pack DIR`, DIR being this file's folder: it serves the pack
and blocks. (`policies/` in Bascule's repository; in a project, the folder `bascule policy-pack init` wrote.)
"""

from pulumi_policy import PolicyPack

from bascule.policies.pack import PACK_NAME, policies

PolicyPack(name=PACK_NAME, policies=policies())
