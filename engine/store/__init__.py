"""Storage: the tables (models, and tables' Core constants), the database and its unit of work, Alembic migrations,
document files, name search."""

from .database import Store

__all__ = ["Store"]
