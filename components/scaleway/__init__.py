"""Scaleway: the 'scaleway' site kind, parsed only to be refused with its reason (`plugin.py`); it has no component."""
