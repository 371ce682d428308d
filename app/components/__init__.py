"""Reusable Dash components (no callbacks of their own)."""
