"""Entry point Pulumi runs for `pulumi preview --policy-pack policies/`: it serves the pack and blocks."""

from pulumi_policy import PolicyPack

from bascule.policies.pack import PACK_NAME, policies

PolicyPack(name=PACK_NAME, policies=policies())
