"""Entry point `pulumi up` runs: the stack's services, from `stacks/Pulumi.<stack>.yaml`."""

from bascule.components.program import main

main()
