"""per-patient identity keys, combined blind indexes, audit source and checkpoint keys

Revision ID: 0006
Revises: 0007
Create Date: 2026-12-04 10:00:00

Patients: every sealed identity value is resealed under its patient's own key (format
2, see storage/identity.py; this needs the keyring, as 0003 did), the birth-date and
first-name indexes (low-entropy values indexed alone) are replaced by a last + first
name index and a last name + birth date index. On SQLite, ``storage.migrate`` then
vacuums the file so that no freed page keeps the old values or indexes.

Vault objects get ``key_patient_id``: the patient whose key also wraps the object's
data key (objects made from now on; older ones are bound at the next key rotation).

Audit: events get a ``source`` (e.g. the client address of a staff request, covered by
the chain when set); checkpoints name the public key that signed them (NULL: the key of
the chain seed, before the two were split).
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.identity import IdentityCipher, IdentityKeysMissing
from storage.patients import fold_name, identity_indexes

revision: str = '0006'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELDS = ("first_name", "last_name", "birth_date", "phone")
NEW_INDEXES = ("full_name_index", "name_birth_index")
OLD_INDEXES = ("first_name_index", "birth_date_index")
ALL_INDEXES = ("phone_index", "last_name_index", *NEW_INDEXES, *OLD_INDEXES)


def _keyring(purpose: str):
    keyring = op.get_context().config.attributes.get("keyring")
    if keyring is None:
        raise IdentityKeysMissing(
            f"the database holds patients whose identity must be {purpose} by schema 0006 and "
            "no keyring was given; run the upgrade with the keyring (TELESEC_KEYRING_PATH)"
        )
    return keyring


def _patients(*indexes: str) -> sa.Table:
    return sa.table(
        "patients", sa.column("id", sa.Integer()), sa.column("practice_id", sa.Integer()),
        *(sa.column(f"{f}_sealed", sa.LargeBinary()) for f in FIELDS),
        *(sa.column(name, sa.String()) for name in indexes),
    )


def _sealed_rows(table: sa.Table) -> list[sa.RowMapping]:
    conn = op.get_bind()
    return list(conn.execute(
        sa.select(table).where(table.c.last_name_sealed.is_not(None)).order_by(table.c.id)
    ).mappings())


def _open_all(seal: IdentityCipher, row: sa.RowMapping) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for field in FIELDS:
        blob = row[f"{field}_sealed"]
        values[field] = seal.open(f"patients.{field}", bytes(blob)).text if blob else None
    return values


def upgrade() -> None:
    for name in NEW_INDEXES:
        op.add_column('patients', sa.Column(name, sa.String(length=32), nullable=True))
    table = _patients(*ALL_INDEXES)
    rows = _sealed_rows(table)
    if rows:
        seal = IdentityCipher(_keyring("resealed"))
        conn = op.get_bind()
        for row in rows:
            values = _open_all(seal, row)
            update: dict[str, object] = {
                f"{field}_sealed": (seal.seal(f"patients.{field}", row["id"], text)
                                    if text is not None else None)
                for field, text in values.items()
            }
            update.update(identity_indexes(
                seal, row["practice_id"], first_name=values["first_name"] or "",
                last_name=values["last_name"] or "", birth_date=values["birth_date"] or "",
                phone=values["phone"]))
            update.update({name: None for name in OLD_INDEXES})
            conn.execute(table.update().where(table.c.id == row["id"]).values(**update))
        op.get_context().config.attributes["scrub_after_upgrade"] = True
    op.drop_index('ix_patients_birth_date_index', table_name='patients')
    for name in OLD_INDEXES:
        op.execute(f'ALTER TABLE patients DROP COLUMN {name}')
    op.create_index('ix_patients_full_name_index', 'patients',
                    ['practice_id', 'full_name_index'], unique=False)
    op.create_index('ix_patients_name_birth_index', 'patients',
                    ['practice_id', 'name_birth_index'], unique=False)

    op.add_column('vault_objects', sa.Column('key_patient_id', sa.Integer(), nullable=True))
    op.add_column('audit_events', sa.Column('source', sa.String(length=64), nullable=True))
    op.add_column('audit_checkpoints',
                  sa.Column('public_key', sa.String(length=72), nullable=True))


def _seal_v1(keyring, field: str, row_id: int, text: str) -> bytes:
    """A format 1 value: under a key derived from the current KEK (schema 0003 to 0005)."""
    kek_id = keyring.current_kek_id.encode("ascii")
    header = bytes([1, len(kek_id)]) + kek_id + row_id.to_bytes(8, "big")
    nonce = secrets.token_bytes(12)
    aad = b"telesec-identity-v1|patients." + field.encode("ascii") + b"|" + header
    aead = AESGCM(keyring.derive("identity"))
    return header + nonce + aead.encrypt(nonce, text.encode("utf-8"), aad)


def _rewrap_without_patients(conn) -> None:
    """Schema 0005 knows only data keys wrapped by the KEK alone."""
    keyring = _keyring("rewrapped")
    objects = sa.table("vault_objects", sa.column("id", sa.String()),
                       sa.column("kek_id", sa.String()),
                       sa.column("wrapped_dek", sa.LargeBinary()),
                       sa.column("key_patient_id", sa.Integer()))
    rows = conn.execute(sa.select(objects).where(objects.c.key_patient_id.is_not(None)))
    for row in rows.mappings().all():
        dek = keyring.unwrap(row["kek_id"], bytes(row["wrapped_dek"]),
                             patient_id=row["key_patient_id"])
        _, wrapped = keyring.wrap(dek, row["kek_id"])
        conn.execute(objects.update().where(objects.c.id == row["id"])
                     .values(wrapped_dek=wrapped, key_patient_id=None))


def downgrade() -> None:
    op.drop_column('audit_checkpoints', 'public_key')
    op.drop_column('audit_events', 'source')
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT count(*) FROM vault_objects "
                            "WHERE key_patient_id IS NOT NULL")).scalar():
        _rewrap_without_patients(conn)
    op.drop_column('vault_objects', 'key_patient_id')

    for name in OLD_INDEXES:
        op.add_column('patients', sa.Column(name, sa.String(length=32), nullable=True))
    table = _patients(*ALL_INDEXES)
    rows = _sealed_rows(table)
    if rows:
        keyring = _keyring("put back in the format of schema 0005")
        seal = IdentityCipher(keyring)
        conn = op.get_bind()
        for row in rows:
            values = _open_all(seal, row)
            update: dict[str, object] = {
                f"{field}_sealed": (_seal_v1(keyring, field, row["id"], text)
                                    if text is not None else None)
                for field, text in values.items()
            }
            practice = row["practice_id"]
            update["first_name_index"] = seal.blind_index(
                "first_name", practice, fold_name(values["first_name"] or ""))
            update["birth_date_index"] = seal.blind_index(
                "birth_date", practice, values["birth_date"] or "")
            update.update({name: None for name in NEW_INDEXES})
            conn.execute(table.update().where(table.c.id == row["id"]).values(**update))
    op.drop_index('ix_patients_name_birth_index', table_name='patients')
    op.drop_index('ix_patients_full_name_index', table_name='patients')
    for name in NEW_INDEXES:
        op.execute(f'ALTER TABLE patients DROP COLUMN {name}')
    op.create_index('ix_patients_birth_date_index', 'patients',
                    ['practice_id', 'birth_date_index'], unique=False)
