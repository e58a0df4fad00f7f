"""The `bascule` command line."""
