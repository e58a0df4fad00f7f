"""Failover drills: a declarative plan (`plan`), a control that breaks and restores the primary (`control`: the
interface and the local sandbox; `stack_control`: a Pulumi stack through the Automation API, and the targets of a
deployed stack's services), the sandbox a local drill runs on (`local`: the running one, or its own), the runner
(`runner`: preflight, dry run, inject, observe, restore), an append-only journal (`journal`), reports derived from
the journal only (`report`), the history of drills and its table (`history`), the lock that keeps two drills off
one target (`lock`), the restore drill of `--fault corruption` (`restore`), and recovery of a drill that was
killed (`recovery`: the only module that knows every kind of control, rebuilt from a lock's description).

Nothing here prints or exits: progress goes to callbacks, failures are `ControlError`, `SandboxError`,
`JournalError` (an `InputError`) and the lock's `LockHeld`/`StaleLock`.

May import: `bascule.readiness`, `bascule.sandbox`, `bascule.data`, `bascule.backup`, `bascule.offline`,
`bascule.spec`, `bascule.io`.
"""
