"""identity lockouts shared by the worker pool

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 02:06:36

New table only: identity_lockouts (failed identity tries per caller number, the number
kept as a keyed hash). Nothing existing is changed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('identity_lockouts',
    sa.Column('number_hash', sa.String(length=32), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('locked_until', storage.models.base.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('number_hash', name=op.f('pk_identity_lockouts'))
    )
    with op.batch_alter_table('identity_lockouts', schema=None) as batch_op:
        batch_op.create_index('ix_identity_lockouts_window_start', ['window_start'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('identity_lockouts', schema=None) as batch_op:
        batch_op.drop_index('ix_identity_lockouts_window_start')

    op.drop_table('identity_lockouts')
