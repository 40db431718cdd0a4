"""Turning a :class:`api.services.media.MediaBody` into a streamed HTTP response."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

from api.errors import ApiError
from api.services.media import MediaBody, RangeNotSatisfiable, open_media
from storage.vault import Vault, VaultError, VaultIntegrityError

AUDIO_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"audio/wav": {}}, "description": "The whole audio, decrypted"},
    206: {"content": {"audio/wav": {}}, "description": "The requested byte range"},
    416: {"description": "Range not satisfiable"},
}


def media_response(vault: Vault, object_id: str, media_type: str | None,
                   range_header: str | None) -> StreamingResponse:
    try:
        body: MediaBody = open_media(vault, object_id, media_type, range_header)
    except RangeNotSatisfiable as exc:
        raise ApiError(416, "range_not_satisfiable", "that byte range is outside the audio",
                       {"Content-Range": f"bytes */{exc.total}"}) from None
    except (VaultError, VaultIntegrityError):
        raise ApiError(404, "not_found", "this audio is not available") from None
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(body.end - body.start)}
    if body.partial:
        headers["Content-Range"] = f"bytes {body.start}-{body.end - 1}/{body.total}"
    return StreamingResponse(body.chunks, status_code=206 if body.partial else 200,
                             media_type=body.media_type, headers=headers)
