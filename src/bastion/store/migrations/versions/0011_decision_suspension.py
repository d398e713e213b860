"""decisions say what a suspension is: temporary (with its length in days) or permanent

A `suspend_account` action used to be reported as a termination (DSA) and a permanent disabling (NCMEC)
whatever the reviewer meant. Existing decisions keep that reading (NULL kind = permanent).

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspension", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("suspension_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("suspension_days")
        batch_op.drop_column("suspension")
