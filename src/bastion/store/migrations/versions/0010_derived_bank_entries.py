"""derived bank entries: hashes of sub-regions of a bank's own media, pointing at their original entry

A derived entry (a centred crop, a shifted window) lets a cropped copy match: the copy's whole-picture
hash is compared with the stored sub-region hashes and reported as a crop match of the original. Original
entries have both columns NULL. Deleting an original deletes its derived entries.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("derived_from", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("derivation", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            "fk_bank_entries_derived_from_bank_entries", "bank_entries", ["derived_from"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_bank_entries_derived_from", ["derived_from"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_entries_derived_from")
        batch_op.drop_constraint("fk_bank_entries_derived_from_bank_entries", type_="foreignkey")
        batch_op.drop_column("derivation")
        batch_op.drop_column("derived_from")
