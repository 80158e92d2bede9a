"""Pledge: a shop's privacy policy as code, enforced at run time and proven."""

__version__ = "0.1.0"
