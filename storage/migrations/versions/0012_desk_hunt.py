"""practice profiles: how a transfer rings the secretaries' pages (ring-all or hunt)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 08:30:00

Three columns on practice_profiles with defaults that keep today's behaviour: desk_ring
('ring_all' or 'hunt'), hunt_order (a JSON list of secretaries' logins) and hunt_seconds
(how long each one rings in a hunt).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('practice_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('desk_ring', sa.String(length=8), nullable=False,
                                      server_default='ring_all'))
        batch_op.add_column(sa.Column('hunt_order', sa.Text(), nullable=False,
                                      server_default='[]'))
        batch_op.add_column(sa.Column('hunt_seconds', sa.Integer(), nullable=False,
                                      server_default='15'))
        batch_op.create_check_constraint(
            op.f('ck_practice_profiles_hunt_seconds_range'), 'hunt_seconds >= 5 AND hunt_seconds <= 120')
        batch_op.create_check_constraint(
            op.f('ck_practice_profiles_desk_ring_known'), "desk_ring IN ('ring_all', 'hunt')")


def downgrade() -> None:
    with op.batch_alter_table('practice_profiles', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_practice_profiles_desk_ring_known'), type_='check')
        batch_op.drop_constraint(op.f('ck_practice_profiles_hunt_seconds_range'), type_='check')
        batch_op.drop_column('hunt_seconds')
        batch_op.drop_column('hunt_order')
        batch_op.drop_column('desk_ring')
