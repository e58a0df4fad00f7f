"""The `bascule` command line: each command parses its options, calls one library function, maps the library's
errors to exit codes (`common.py`) and prints. Logic (recovery, inventories, targets, rendering in words) lives
in the capability packages; no command module imports another's names, only `common`.

May import every package of `bascule`; nothing imports it.
"""
