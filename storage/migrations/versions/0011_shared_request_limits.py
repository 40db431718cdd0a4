"""request limits shared by the API nodes: token buckets and login throttles

Revision ID: 0011
Revises: 0006
Create Date: 2026-12-07 05:15:00

The staff API's per-address and per-login token buckets and its failed-login counts by
login and address move from each process's memory into the database, so that several
API nodes share them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = '0011'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_buckets',
    sa.Column('key', sa.String(length=96), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('seen_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_buckets'))
    )
    op.create_index('ix_rate_buckets_seen_at', 'rate_buckets', ['seen_at'], unique=False)
    op.create_table('login_throttles',
    sa.Column('key', sa.String(length=96), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('blocked_until', storage.models.base.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttles'))
    )
    op.create_index('ix_login_throttles_last_failure_at', 'login_throttles',
                    ['last_failure_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_login_throttles_last_failure_at', table_name='login_throttles')
    op.drop_table('login_throttles')
    op.drop_index('ix_rate_buckets_seen_at', table_name='rate_buckets')
    op.drop_table('rate_buckets')
