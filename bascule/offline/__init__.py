"""Run a Pulumi Python program without the CLI or a cloud: mocks that answer every resource and invoke with
typed stand-ins, the registered resources as records, and program failures that point at the program's own line.

Owns the only use of `pulumi.runtime.set_mocks` outside tests. May import: `bascule.io`, `bascule.facts`.
A program imports the components itself; this package never does.
"""
