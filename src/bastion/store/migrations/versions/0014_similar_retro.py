"""decisions remember whether their case's media were compared with recent items (similar-to-confirmed)

A confirming decision is marked ``pending``; the background task (bastion.cases.similar_retro) claims it
for a lease, compares the case's images with recently stored items and marks it ``done``. Earlier
decisions stay NULL: they are not compared again.

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("similar_retro", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("similar_claimed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("similar_claimed_until")
        batch_op.drop_column("similar_retro")
