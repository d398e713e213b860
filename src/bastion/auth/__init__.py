"""Users, roles, API tokens and the one permission table (``permissions.py``)."""
