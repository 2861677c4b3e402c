"""Activity samples lose their per-user index (username, timestamp): a tick's cost at scale.

Every tick inserts one sample per user and prunes one per user. In the time index and the table
both land on a handful of pages (the newest and the oldest), but in a per-user index every user's
entry sits on its own leaf page: each tick dirtied two pages per user, which at 10,000 users is
some 80 MB that SQLite writes to its WAL and then back into the database file with an fsync at
every checkpoint. On a 2-core machine with a virtual disk that alone took over a second a tick;
without the index the same tick writes about a hundred pages.

Nothing frequent looks samples up by user: scores read the tallies, ticks go by time. What does
(renaming or deleting a user, one user's samples, refolding a tally) now reads the retention
window through the time index or scans the table, which at that scale takes about a second;
they are rare administrative steps.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_activity_user_time", table_name="activity_samples")


def downgrade() -> None:
    op.create_index("ix_activity_user_time", "activity_samples", ["username", "timestamp"])
