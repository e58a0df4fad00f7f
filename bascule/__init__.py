"""Bascule: plan B as code for services that must survive a cloud region's or provider's outage."""

__version__ = "0.1.0"
