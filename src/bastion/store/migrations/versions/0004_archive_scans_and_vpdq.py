"""archive scans (runs, ledger of finished shards, per-file results) and long bank values (vPDQ)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
    op.create_table(
        "scan_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("shard_size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_runs")),
    )
    op.create_table(
        "scan_shards",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("source_no", sa.Integer(), nullable=False),
        sa.Column("shard_no", sa.Integer(), nullable=False),
        sa.Column("first_key", sa.Text(), nullable=False),
        sa.Column("last_key", sa.Text(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["scan_runs.id"], name=op.f("fk_scan_shards_run_id_scan_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "source_no", "shard_no", name=op.f("pk_scan_shards")),
    )
    op.create_table(
        "scan_results",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("media_format", sa.String(length=16), nullable=True),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["scan_runs.id"], name=op.f("fk_scan_results_run_id_scan_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_scan_results")),
    )


def downgrade() -> None:
    op.drop_table("scan_results")
    op.drop_table("scan_shards")
    op.drop_table("scan_runs")
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.drop_column("payload")
