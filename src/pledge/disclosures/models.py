"""Disclosures (issue 8; P10, P11): the disclosures register. Models are being written."""
