"""retro-matching reads the stored PDQ hashes from a covering index instead of the item_media rows

``ix_item_media_pdq_scan`` on (id, pdq, quality), only rows that have a PDQ hash: the retro read (every stored
hash, in id ranges) scans ~80 bytes per medium instead of the whole row (~660 bytes with its stored result),
0.6 -> 0.38 CPU-s per million rows on SQLite, measured; ~12 % more disk. New media append to its right edge.

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("item_media", schema=None) as batch_op:
        batch_op.create_index("ix_item_media_pdq_scan", ["id", "pdq", "quality"], unique=False,
                              sqlite_where=sa.text("pdq IS NOT NULL"), postgresql_where=sa.text("pdq IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table("item_media", schema=None) as batch_op:
        batch_op.drop_index("ix_item_media_pdq_scan")
