"""Foundations for files and processes: read YAML/JSON with errors that name the file and line, write files
atomically, say whether a path can be written, repair a torn append-only tail, tell whether a pid is still the
process it was (and which processes of its group still run), escape untrusted text per output medium and bound what
an error repeats, compute a request body's Content-MD5, and pause Python's cyclic collector over bulk reads.

Owns no Bascule concept; imports only the standard library and parsers. Every other package may import it.
"""
