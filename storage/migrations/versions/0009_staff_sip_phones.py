"""staff SIP phones: sealed digest credentials

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-07 01:40:00

Three nullable columns on staff_users: the sealed HA1 of the member's SIP phone, the
KEK it is sealed under, and the realm it was computed for. Nothing existing changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sip_ha1_sealed', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('sip_kek_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sip_realm', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('sip_realm')
        batch_op.drop_column('sip_kek_id')
        batch_op.drop_column('sip_ha1_sealed')
