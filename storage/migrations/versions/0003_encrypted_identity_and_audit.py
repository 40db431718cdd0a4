"""encrypted patient identity and the audit trail

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 01:10:00

Seals the names, birth dates and phone numbers of existing patients (this needs the
keyring: ``storage.migrate.upgrade(url, keyring=...)`` passes it in
``config.attributes["keyring"]``), adds their blind indexes, then drops the plaintext
columns. Creates the audit tables. On SQLite, ``storage.migrate`` then vacuums the file
so that no freed page keeps the old plaintext.
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

import storage.models.base
from storage.identity import IdentityCipher, IdentityKeysMissing
from storage.patients import fold_name, normalise_phone

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELDS = ("first_name", "last_name", "birth_date", "phone")
PLAIN_TYPES = {
    "first_name": sa.String(length=200),
    "last_name": sa.String(length=200),
    "birth_date": sa.Date(),
    "phone": sa.String(length=32),
}


def _keyring(purpose: str):
    keyring = op.get_context().config.attributes.get("keyring")
    if keyring is None:
        raise IdentityKeysMissing(
            f"the database holds patients whose identity must be {purpose} by schema 0003 and "
            "no keyring was given; run the upgrade with the keyring (TELESEC_KEYRING_PATH)"
        )
    return keyring


def _patients_table(*names: str) -> sa.Table:
    columns = [sa.column("id", sa.Integer()), sa.column("practice_id", sa.Integer())]
    for name in names:
        if name in PLAIN_TYPES:
            columns.append(sa.column(name, PLAIN_TYPES[name]))
        elif name.endswith("_sealed"):
            columns.append(sa.column(name, sa.LargeBinary()))
        else:
            columns.append(sa.column(name, sa.String()))
    return sa.table("patients", *columns)


def _index_form(field: str, text: str) -> str:
    return fold_name(text) if field in ("first_name", "last_name") else text


def _seal_existing_rows() -> None:
    conn = op.get_bind()
    plain = _patients_table(*FIELDS)
    rows = conn.execute(sa.select(plain)).mappings().all()
    if not rows:
        return
    seal = IdentityCipher(_keyring("encrypted"))
    target = _patients_table(*(f"{f}_sealed" for f in FIELDS), *(f"{f}_index" for f in FIELDS))
    for row in rows:
        values: dict[str, object] = {}
        for field in FIELDS:
            raw = row[field]
            if field == "birth_date":
                text = raw.isoformat() if raw is not None else None
            elif field == "phone":
                text = normalise_phone(raw) or None if raw else None
            else:
                text = raw.strip() if raw is not None else None
            if text is None:
                values[f"{field}_sealed"] = values[f"{field}_index"] = None
                continue
            values[f"{field}_sealed"] = seal.seal(f"patients.{field}", row["id"], text)
            values[f"{field}_index"] = seal.blind_index(
                field, row["practice_id"], _index_form(field, text)
            )
        conn.execute(target.update().where(target.c.id == row["id"]).values(**values))


def upgrade() -> None:
    for field in FIELDS:
        op.add_column('patients', sa.Column(f'{field}_sealed', sa.LargeBinary(), nullable=True))
    for field in FIELDS:
        op.add_column('patients', sa.Column(f'{field}_index', sa.String(length=32), nullable=True))
    op.add_column('patients', sa.Column('erased_at', storage.models.base.UTCDateTime(), nullable=True))
    _seal_existing_rows()
    for field in FIELDS:
        # Native DROP COLUMN on both databases: a batch copy of the table on SQLite would
        # DROP the old table and cascade to the appointments.
        op.execute(f'ALTER TABLE patients DROP COLUMN {field}')
    op.create_index('ix_patients_birth_date_index', 'patients', ['practice_id', 'birth_date_index'], unique=False)
    op.create_index('ix_patients_last_name_index', 'patients', ['practice_id', 'last_name_index'], unique=False)
    op.create_index('ix_patients_phone_index', 'patients', ['practice_id', 'phone_index'], unique=False)

    op.create_table('audit_events',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=128), nullable=True),
    sa.Column('purpose', sa.String(length=300), nullable=False),
    sa.Column('patient_ref', sa.String(length=32), nullable=True),
    sa.Column('practice_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_events_hash')),
    sa.UniqueConstraint('prev_hash', name=op.f('uq_audit_events_prev_hash'))
    )
    op.create_index(op.f('ix_audit_events_actor'), 'audit_events', ['actor'], unique=False)
    op.create_index(op.f('ix_audit_events_at'), 'audit_events', ['at'], unique=False)
    op.create_index(op.f('ix_audit_events_patient_id'), 'audit_events', ['patient_id'], unique=False)
    op.create_index(op.f('ix_audit_events_patient_ref'), 'audit_events', ['patient_ref'], unique=False)
    head = op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_head_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64, "mac": ""}])
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('at', storage.models.base.UTCDateTime(), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    op.create_index(op.f('ix_audit_checkpoints_seq'), 'audit_checkpoints', ['seq'], unique=False)
    op.get_context().config.attributes["scrub_after_upgrade"] = True


def downgrade() -> None:
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_head')
    op.drop_table('audit_events')
    conn = op.get_bind()
    # Erased patients have no identity to put back; their appointments are already gone.
    conn.execute(sa.text("DELETE FROM patients WHERE erased_at IS NOT NULL"))
    for field in FIELDS:
        op.add_column('patients', sa.Column(field, PLAIN_TYPES[field], nullable=True))
    sealed = _patients_table(*(f"{f}_sealed" for f in FIELDS))
    rows = conn.execute(sa.select(sealed)).mappings().all()
    if rows:
        seal = IdentityCipher(_keyring("decrypted"))
        plain = _patients_table(*FIELDS)
        for row in rows:
            values: dict[str, object] = {}
            for field in FIELDS:
                blob = row[f"{field}_sealed"]
                text = seal.open(f"patients.{field}", bytes(blob)).text if blob else None
                if field == "birth_date" and text is not None:
                    values[field] = date.fromisoformat(text)
                else:
                    values[field] = text
            conn.execute(plain.update().where(plain.c.id == row["id"]).values(**values))
    op.drop_index('ix_patients_phone_index', table_name='patients')
    op.drop_index('ix_patients_last_name_index', table_name='patients')
    op.drop_index('ix_patients_birth_date_index', table_name='patients')
    for field in FIELDS:
        op.execute(f'ALTER TABLE patients DROP COLUMN {field}_sealed')
        op.execute(f'ALTER TABLE patients DROP COLUMN {field}_index')
    op.execute('ALTER TABLE patients DROP COLUMN erased_at')
