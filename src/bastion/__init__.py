"""Bastion: child-safety scanning for platforms that host user-generated content.

Scan uploads and texts against hash banks of known material, read AI-generation provenance, detect
text signals, and explain every result. See README.md.
"""

__version__ = "0.1.0"
