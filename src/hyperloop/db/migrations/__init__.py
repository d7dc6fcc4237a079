"""Alembic migrations of the Hyperloop database (shipped in the package)."""
