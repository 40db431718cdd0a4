"""practice information, new patients, the notification outbox, call-backs

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-07 01:21:40

New tables: practice_profiles (what a practice tells its callers), notifications (the
outbox of confirmations and staff alerts). New columns: practitioners.accepts_new_patients
and alert_address, patients.provisional, and on escalations the sealed caller number, how
the call ended, the voicemail left after it and the call-back attempts. Existing rows get
the defaults (every practitioner accepts new patients, no patient is provisional).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = '0008'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('practice_profiles',
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('spoken_name', sa.String(length=200), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('access', sa.String(length=500), nullable=True),
    sa.Column('accepts_new_patients', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('secretary_line', sa.String(length=255), nullable=True),
    sa.Column('sos_medecins_number', sa.String(length=32), nullable=True),
    sa.Column('on_call_number', sa.String(length=32), nullable=True),
    sa.Column('pharmacy_number', sa.String(length=32), nullable=True),
    sa.Column('duplicate_window_days', sa.Integer(), nullable=False),
    sa.Column('privacy_contact', sa.String(length=300), nullable=True),
    sa.Column('alert_recipients', sa.Text(), nullable=False),
    sa.Column('updated_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.CheckConstraint('duplicate_window_days >= 0 AND duplicate_window_days <= 365', name=op.f('ck_practice_profiles_duplicate_window_range')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_practice_profiles_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('practice_id', name=op.f('pk_practice_profiles'))
    )
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('booking_confirmation', 'new_voicemail', 'urgent_escalation', name='notificationkind', native_enum=False, length=32), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('practitioner_id', sa.Integer(), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('escalation_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('pending', 'sent', 'skipped', 'failed', name='notificationstatus', native_enum=False, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('created_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('sent_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('error', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_notifications_appointment_id_appointments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_notifications_patient_id_patients'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_notifications_practice_id_practices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioners.id'], name=op.f('fk_notifications_practitioner_id_practitioners'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_status_due', ['status', 'next_attempt_at'], unique=False)

    # Native ADD COLUMN on both databases: a batch copy of a table on SQLite would DROP the
    # old table and cascade to the rows that refer to it (appointments, escalations...).
    op.add_column('escalations', sa.Column('caller_number_sealed', sa.LargeBinary(), nullable=True))
    op.add_column('escalations', sa.Column('call_ended_at', storage.models.base.UTCDateTime(), nullable=True))
    op.add_column('escalations', sa.Column('call_outcome', sa.String(length=32), nullable=True))
    op.add_column('escalations', sa.Column('voicemail_object_id', sa.String(length=32), nullable=True))
    op.add_column('escalations', sa.Column('callbacks', sa.Text(), server_default='[]', nullable=False))
    op.add_column('patients', sa.Column('provisional', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('practitioners', sa.Column('accepts_new_patients', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('practitioners', sa.Column('alert_address', sa.String(length=254), nullable=True))


def downgrade() -> None:
    for table, column in (('practitioners', 'alert_address'),
                          ('practitioners', 'accepts_new_patients'),
                          ('patients', 'provisional'), ('escalations', 'callbacks'),
                          ('escalations', 'voicemail_object_id'),
                          ('escalations', 'call_outcome'), ('escalations', 'call_ended_at'),
                          ('escalations', 'caller_number_sealed')):
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')  # native, as upgrade()
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_status_due')
    op.drop_table('notifications')
    op.drop_table('practice_profiles')
