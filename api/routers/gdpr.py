"""GDPR requests (admin): export everything about a patient, erase a patient."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse
from sqlalchemy import update

from api.deps import Admin, Context, ObjectId
from api.errors import COMMON_RESPONSES, ApiError, not_found, responses
from api.routers.media_response import media_response
from api.routers.recordings import RecordingId
from api.schemas.admin import ErasureOut, ExportOut, ReasonIn
from api.services.patient_export import EXPORT_MEDIA_TYPE, export_patient
from storage import audit
from storage.erasure import ErasureRefused, erase_patient
from storage.models import CallRecord, Escalation, ObjectKind, ObjectStatus, VaultObject
from storage.patients import UnknownPatient

router = APIRouter(prefix="/gdpr", tags=["gdpr"], responses=COMMON_RESPONSES)


@router.post("/patients/{patient_id}/export", response_model=ExportOut,
             status_code=status.HTTP_201_CREATED)
def export(patient_id: ObjectId, body: ReasonIn, admin: Admin, ctx: Context) -> ExportOut:
    """Build the patient's archive (encrypted in the vault; kept ``export_days``)."""
    try:
        object_id, practice_id, size = export_patient(ctx.db, ctx.vault, patient_id)
    except UnknownPatient:
        raise not_found("patient") from None
    with ctx.db.session() as session:
        audit.record(session, actor=admin.actor, action="patient.export", object_type="patient",
                     object_id=None, patient_id=patient_id, practice_id=practice_id,
                     purpose=body.reason, detail={"export": object_id, "size": size})
        expires = session.get(VaultObject, object_id).expires_at  # type: ignore[union-attr]
    return ExportOut(object_id=object_id, patient_id=patient_id, size=size, expires_at=expires)


@router.get("/exports/{export_id}", response_class=StreamingResponse,
            responses={200: {"content": {EXPORT_MEDIA_TYPE: {}},
                             "description": "The archive (tar), decrypted as it is sent"}})
def download(export_id: RecordingId, admin: Admin, ctx: Context) -> StreamingResponse:
    """Download an export (audited); hand it to the patient over a secure channel."""
    with ctx.db.read_session() as session:
        row = session.get(VaultObject, export_id)
    if row is None or row.kind != ObjectKind.EXPORT or row.status is not ObjectStatus.COMPLETE:
        raise not_found("export")
    response = media_response(ctx.vault, row.id, row.media_type, None)
    with ctx.db.session() as session:
        audit.record(session, actor=admin.actor, action="export.download",
                     object_type="vault_object", object_id=row.id, patient_id=row.patient_id,
                     practice_id=row.practice_id, purpose="GDPR access request")
    response.headers["Content-Disposition"] = f'attachment; filename="patient-export-{row.id}.tar"'
    return response


@router.post("/patients/{patient_id}/erase", response_model=ErasureOut,
             responses=responses(409))
def erase(patient_id: ObjectId, body: ReasonIn, admin: Admin, ctx: Context) -> ErasureOut:
    """Erase a patient: shred their objects, delete appointments, destroy identity."""
    try:
        with ctx.db.session() as session:
            report = erase_patient(session, patient_id, admin.actor, body.reason,
                                   vault=ctx.vault)
            session.execute(update(CallRecord).where(CallRecord.patient_id == patient_id)
                            .values(patient_id=None))
            session.execute(update(Escalation).where(Escalation.patient_id == patient_id)
                            .values(patient_id=None, caller_number_sealed=None))
    except UnknownPatient:
        raise not_found("patient") from None
    except ErasureRefused as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return ErasureOut(patient_ref=report.patient_ref, objects_shredded=report.objects_shredded,
                      appointments_removed=report.appointments_removed,
                      audit_events_pseudonymised=report.audit_events_pseudonymised)
