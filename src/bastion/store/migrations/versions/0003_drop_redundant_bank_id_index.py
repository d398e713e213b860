"""drop the bank_id index: the unique (bank_id, hash_type, value) index already starts with bank_id

Every insert paid for maintaining both; measured in bench/bench_bank_load.py.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_entries_bank_id")


def downgrade() -> None:
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.create_index("ix_bank_entries_bank_id", ["bank_id"], unique=False)
