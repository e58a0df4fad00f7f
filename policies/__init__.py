"""Concentration-risk policies."""
