"""Policy-as-code: a shop's privacy policy as one validated file.

This app is pure data and validation; it imports no other Pledge app (ARCHITECTURE.md).
"""
