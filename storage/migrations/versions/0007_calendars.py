"""calendars: links, imported busy time, publication outbox, conflicts

Revision ID: 0007
Revises: 0008
Create Date: 2026-12-07 01:22:18

New tables only (storage/models/calendars.py): calendar_links (address and credentials
sealed with the keyring), calendar_remote_events, imported_busy, practice_calendar_settings,
calendar_outbox, calendar_publications, calendar_conflicts. Nothing existing is changed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = '0007'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('practice_calendar_settings',
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('tentative_blocks', sa.Boolean(), nullable=False),
    sa.Column('declined_blocks', sa.Boolean(), nullable=False),
    sa.Column('publish_patient_identity', sa.Boolean(), nullable=False),
    sa.Column('updated_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_practice_calendar_settings_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('practice_id', name=op.f('pk_practice_calendar_settings'))
    )
    op.create_table('calendar_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('caldav', 'ics', name='calendarkind', native_enum=False, length=16), nullable=False),
    sa.Column('server', sa.String(length=255), nullable=False),
    sa.Column('sealed_source', sa.LargeBinary(), nullable=False),
    sa.Column('owner_addresses', sa.String(length=500), nullable=True),
    sa.Column('created_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('sync_mode', sa.String(length=16), nullable=True),
    sa.Column('sync_token', sa.String(length=1000), nullable=True),
    sa.Column('source_etag', sa.String(length=255), nullable=True),
    sa.Column('expanded_until', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('sync_requested_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('last_attempt_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('last_success_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('last_error_at', storage.models.base.UTCDateTime(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('events_count', sa.Integer(), nullable=False),
    sa.Column('busy_count', sa.Integer(), nullable=False),
    sa.Column('last_changes', sa.String(length=300), nullable=True),
    sa.Column('last_requests', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_calendar_links_practice_id_practices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioners.id'], name=op.f('fk_calendar_links_practitioner_id_practitioners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_links')),
    sa.UniqueConstraint('practitioner_id', name=op.f('uq_calendar_links_practitioner_id'))
    )
    op.create_table('calendar_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('root_appointment_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_calendar_outbox_appointment_id_appointments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['root_appointment_id'], ['appointments.id'], name=op.f('fk_calendar_outbox_root_appointment_id_appointments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_outbox'))
    )
    with op.batch_alter_table('calendar_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_outbox_root_appointment_id'), ['root_appointment_id'], unique=False)

    op.create_table('calendar_publications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('root_appointment_id', sa.Integer(), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('href', sa.String(length=1000), nullable=False),
    sa.Column('etag', sa.String(length=255), nullable=True),
    sa.Column('published_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['calendar_links.id'], name=op.f('fk_calendar_publications_link_id_calendar_links'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['root_appointment_id'], ['appointments.id'], name=op.f('fk_calendar_publications_root_appointment_id_appointments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_publications')),
    sa.UniqueConstraint('link_id', 'root_appointment_id', name=op.f('uq_calendar_publications_link_id_root_appointment_id'))
    )
    with op.batch_alter_table('calendar_publications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_publications_root_appointment_id'), ['root_appointment_id'], unique=False)

    op.create_table('calendar_remote_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('href', sa.String(length=1000), nullable=False),
    sa.Column('etag', sa.String(length=255), nullable=True),
    sa.Column('open_ended', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['calendar_links.id'], name=op.f('fk_calendar_remote_events_link_id_calendar_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_remote_events')),
    sa.UniqueConstraint('link_id', 'href', name=op.f('uq_calendar_remote_events_link_id_href'))
    )
    with op.batch_alter_table('calendar_remote_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_remote_events_link_id'), ['link_id'], unique=False)

    op.create_table('calendar_conflicts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('remote_event_id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('busy_starts_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('busy_ends_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('detected_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_calendar_conflicts_appointment_id_appointments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_calendar_conflicts_practice_id_practices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioners.id'], name=op.f('fk_calendar_conflicts_practitioner_id_practitioners'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['remote_event_id'], ['calendar_remote_events.id'], name=op.f('fk_calendar_conflicts_remote_event_id_calendar_remote_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_conflicts')),
    sa.UniqueConstraint('appointment_id', 'remote_event_id', name=op.f('uq_calendar_conflicts_appointment_id_remote_event_id'))
    )
    with op.batch_alter_table('calendar_conflicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_conflicts_appointment_id'), ['appointment_id'], unique=False)

    op.create_table('imported_busy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('remote_event_id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('ends_at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('attendance', sa.Enum('busy', 'tentative', 'declined', name='attendance', native_enum=False, length=16), nullable=False),
    sa.CheckConstraint('starts_at < ends_at', name=op.f('ck_imported_busy_start_before_end')),
    sa.ForeignKeyConstraint(['link_id'], ['calendar_links.id'], name=op.f('fk_imported_busy_link_id_calendar_links'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioners.id'], name=op.f('fk_imported_busy_practitioner_id_practitioners'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['remote_event_id'], ['calendar_remote_events.id'], name=op.f('fk_imported_busy_remote_event_id_calendar_remote_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imported_busy'))
    )
    with op.batch_alter_table('imported_busy', schema=None) as batch_op:
        batch_op.create_index('ix_imported_busy_practitioner_span', ['practitioner_id', 'ends_at', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_imported_busy_remote_event_id'), ['remote_event_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('imported_busy', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imported_busy_remote_event_id'))
        batch_op.drop_index('ix_imported_busy_practitioner_span')

    op.drop_table('imported_busy')
    with op.batch_alter_table('calendar_conflicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_conflicts_appointment_id'))

    op.drop_table('calendar_conflicts')
    with op.batch_alter_table('calendar_remote_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_remote_events_link_id'))

    op.drop_table('calendar_remote_events')
    with op.batch_alter_table('calendar_publications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_publications_root_appointment_id'))

    op.drop_table('calendar_publications')
    with op.batch_alter_table('calendar_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_outbox_root_appointment_id'))

    op.drop_table('calendar_outbox')
    op.drop_table('calendar_links')
    op.drop_table('practice_calendar_settings')
