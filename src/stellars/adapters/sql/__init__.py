"""SQLAlchemy 2 stores (activity samples with per-user decay tallies, session deadlines) on SQLite or PostgreSQL."""
