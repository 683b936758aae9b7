"""Storage: SQLAlchemy 2 async models, sessions, queries and Alembic migrations."""
