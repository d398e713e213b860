"""confirmed cases get their images' colour layouts (similar-to-confirmed's second look)

The likeness check keeps, for each confirmed image, a coarse colour layout beside its window hashes
(``item_media.result["similar_layout"]``, hashed from the held bytes by bastion.cases.similar_retro). Images
confirmed before this revision have windows but no layout: their confirming decisions are queued again as
``similar_retro = 'layout'``, so the background task hashes the layouts (and the windows again), without
comparing the case with stored items a second time. The downgrade turns the decisions still waiting back
to done (the code before this revision knows no 'layout' state) and leaves the layouts in place: it ignores
them.

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    decisions = sa.table("decisions", sa.column("outcome", sa.String), sa.column("similar_retro", sa.String),
                         sa.column("similar_claimed_until", sa.DateTime(timezone=True)))
    op.execute(decisions.update()
               .where(decisions.c.similar_retro == "done", decisions.c.outcome == "confirm")
               .values(similar_retro="layout", similar_claimed_until=None))


def downgrade() -> None:
    decisions = sa.table("decisions", sa.column("similar_retro", sa.String))
    op.execute(decisions.update().where(decisions.c.similar_retro == "layout").values(similar_retro="done"))
