"""vault objects

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 00:45:18.747106
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('vault_objects',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.Enum('recording', 'voicemail', 'transcript', 'export', 'spool', name='objectkind', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('writing', 'complete', 'truncated', 'shredded', name='objectstatus', native_enum=False, length=16), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('practitioner_id', sa.Integer(), nullable=True),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.Column('media_type', sa.String(length=100), nullable=True),
    sa.Column('retention_class', sa.String(length=32), nullable=False),
    sa.Column('created_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('completed_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('handled_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('expires_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('shredded_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('kek_id', sa.String(length=64), nullable=True),
    sa.Column('wrapped_dek', sa.LargeBinary(), nullable=True),
    sa.Column('blob_path', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_vault_objects_patient_id_patients'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_vault_objects_practice_id_practices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioners.id'], name=op.f('fk_vault_objects_practitioner_id_practitioners'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vault_objects'))
    )
    with op.batch_alter_table('vault_objects', schema=None) as batch_op:
        batch_op.create_index('ix_vault_objects_kek', ['kek_id'], unique=False)
        batch_op.create_index('ix_vault_objects_patient', ['patient_id'], unique=False)
        batch_op.create_index('ix_vault_objects_status_expires', ['status', 'expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('vault_objects', schema=None) as batch_op:
        batch_op.drop_index('ix_vault_objects_status_expires')
        batch_op.drop_index('ix_vault_objects_patient')
        batch_op.drop_index('ix_vault_objects_kek')

    op.drop_table('vault_objects')
