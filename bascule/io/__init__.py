"""Foundations for files and processes: read YAML/JSON with errors that name the file and line, write files
atomically, repair a torn append-only tail, tell whether a pid is still the process it was, and pause Python's
cyclic collector over bulk reads.

Owns no Bascule concept; imports only the standard library and parsers. Every other package may import it.
"""
