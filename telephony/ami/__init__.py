"""Asterisk Manager Interface: wire format, panoramisk-based client, AMI-backed PbxControl."""
