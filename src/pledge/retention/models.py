"""Retention (issue 8; P17): sweeps and their proof-of-deletion reports. Models are being
written."""
