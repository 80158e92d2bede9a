"""Incidents (issue 8; P23): the breach register. Models are being written."""
