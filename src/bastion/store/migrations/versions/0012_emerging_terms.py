"""emerging terms: term counts per day and outcome, the term -> items index, co-occurrence pairs, the
platform's own lexicon and its change log (bastion.terms)

Items stored before this revision have no term counts; `bastion terms` ranks what arrives afterwards.

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "term_counts",
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("term", sa.String(length=120), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("outcome", "term", "day", "language", name=op.f("pk_term_counts")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "item_terms",
        sa.Column("item_id", _BIG, autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("tag_terms", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_item_terms")),
    )
    op.create_table(
        "term_items",
        sa.Column("term", sa.String(length=120), nullable=False),
        sa.Column("item_id", _BIG, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("term", "item_id", name=op.f("pk_term_items")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "term_pairs",
        sa.Column("term", sa.String(length=120), nullable=False),
        sa.Column("known", sa.String(length=120), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", "known", name=op.f("pk_term_pairs")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "term_cases",
        sa.Column("term", sa.String(length=120), nullable=False),
        sa.Column("case_id", _BIG, autoincrement=False, nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("term", "case_id", name=op.f("pk_term_cases")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "platform_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(length=120), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("match", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_terms")),
        sa.UniqueConstraint("key", name=op.f("uq_platform_terms_key")),
    )
    op.create_table(
        "term_changes",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retro_done", sa.Boolean(), nullable=False),
        sa.Column("retro_claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retro_result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_term_changes")),
    )
    op.create_index("ix_term_changes_retro_pending", "term_changes", ["retro_done", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_term_changes_retro_pending", table_name="term_changes")
    for t in ("term_changes", "platform_terms", "term_cases", "term_pairs", "term_items", "item_terms", "term_counts"):
        op.drop_table(t)
