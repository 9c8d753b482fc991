"""Storage: the tables (models, tables), the database and its unit of work, schema migrations, files."""

from .database import Store

__all__ = ["Store"]
