"""Alembic environment: runs the migrations on the connection the caller hands over.

Used only through `stellars.adapters.sql.migrations` (no alembic.ini): the caller opens the
transaction, takes the lock and passes the connection in `config.attributes`.
"""

from alembic import context

config = context.config
if context.is_offline_mode():
    raise RuntimeError("stellars migrations run online only, on a live connection")

context.configure(
    connection=config.attributes["connection"],
    version_table=config.attributes["version_table"],
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
