"""Asterisk REST Interface: aiohttp client and typed models."""
