"""The network side: a CalDAV collection (the ``caldav`` library) and an ICS address (httpx).

Each client counts its HTTP requests (for ``telesec calendars status`` and the benchmark)
and turns every failure into :class:`CalendarServerError`, whose message is one line
naming neither the address nor the credentials (they may be secrets).

Listing changes, cheapest first:

- RFC 6578 ``sync-collection`` with the token of the last sync: what changed and what
  went since, in one REPORT (a token the server has forgotten restarts from a full
  listing);
- where the server offers no sync-token, a Depth 1 PROPFIND of the ETags, compared with
  the ETags of the last import by the caller;
- then the changed objects' data in ``calendar-multiget`` REPORTs of up to
  :data:`MULTIGET_BATCH` objects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import caldav
import httpx
from caldav.elements import dav
from caldav.lib import error as dav_error
from lxml import etree

from calendars.credentials import CalendarSource

MULTIGET_BATCH = 250
ICS_MAX_BYTES = 20 * 1024 * 1024

log = logging.getLogger(__name__)

# The HTTP libraries log addresses (an ICS address may be its own secret, Google's "secret
# address"), headers and bodies (a published event may name a patient) at INFO or DEBUG:
# they stay quiet whatever Telesec's log level.
for _name in ("caldav", "httpx", "httpcore", "urllib3", "requests"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class CalendarServerError(Exception):
    """A calendar server could not be used; the message is one line for people."""


@dataclass
class Listing:
    """What the collection holds or what changed: ``{path: etag}`` and paths gone."""

    changed: dict[str, str | None]
    deleted: set[str]
    complete: bool  # every object is listed: known paths missing from it are gone
    token: str | None
    mode: str  # "sync-token" or "etag"


@dataclass
class RemoteObject:
    path: str
    etag: str | None
    data: str = field(repr=False)


class CalDavCollection:
    """One CalDAV calendar collection, through the ``caldav`` client library."""

    def __init__(self, source: CalendarSource, *, timeout: float) -> None:
        self.requests = 0
        with _guarded("connect"):
            self.client = caldav.DAVClient(
                url=source.url, username=source.username, password=source.password,
                timeout=int(max(1, timeout)),
            )
            session_request = self.client.session.request

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.requests += 1
                return session_request(*args, **kwargs)

            self.client.session.request = counted  # type: ignore[method-assign]
            self.calendar = self.client.calendar(url=source.url)
        self._base = urlsplit(str(self.calendar.url)).path

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> CalDavCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- reading ---------------------------------------------------------------------

    def check(self) -> str:
        """Ask the collection its name: proves the address, login and that it is there."""
        with _guarded("check"):
            name = self.calendar.get_display_name()
        return str(name or "")

    def listing(self, token: str | None, mode: str | None) -> Listing:
        """What changed since ``token`` (sync-token), or every object with its ETag."""
        if mode != "etag":
            found = self._sync_collection(token)
            if found is not None:
                return found
        return self._etags()

    def _sync_collection(self, token: str | None) -> Listing | None:
        """RFC 6578; None when the server does not offer it (the caller compares ETags).

        A member reported without an ETag is one that went (RFC 6578 answers 404 for
        it); a token the server no longer knows (403/412) restarts from a full listing.
        """
        try:
            with _guarded("sync-collection", passthrough=(dav_error.DAVError,)):
                result = self.calendar.objects_by_sync_token(token, load_objects=False)
        except dav_error.NotFoundError as exc:
            raise _server_error("sync-collection", exc) from None
        except dav_error.DAVError as exc:
            if token:
                log.info("calendar sync token refused by the server (%s); listing everything",
                         type(exc).__name__)
                return self._sync_collection(None)
            if isinstance(exc, dav_error.AuthorizationError) and not _sync_refused(exc):
                raise _server_error("sync-collection", exc) from None
            return None
        changed: dict[str, str | None] = {}
        deleted: set[str] = {self._path(url) for url in getattr(result, "deleted_urls", ())}
        for obj in result:
            path = self._path(obj.url)
            if path.rstrip("/") == self._base.rstrip("/") or path in deleted:
                continue
            etag = _etag(obj.props.get(dav.GetEtag.tag))
            if etag is None and token:
                deleted.add(path)
            else:
                changed[path] = etag
        return Listing(changed, deleted, complete=not token, token=result.sync_token,
                       mode="sync-token")

    def _etags(self) -> Listing:
        root = dav.Propfind() + (dav.Prop() + dav.GetEtag())
        body = etree.tostring(root.xmlelement(),
                              encoding="utf-8", xml_declaration=True).decode()
        with _guarded("list ETags"):
            response = self.client.propfind(str(self.calendar.url), body, depth=1)
            props = response.expand_simple_props([dav.GetEtag()])
        changed = {}
        for href, values in props.items():
            path = self._path(href)
            if path.rstrip("/") != self._base.rstrip("/"):
                changed[path] = _etag(values.get(dav.GetEtag.tag))
        return Listing(changed, set(), complete=True, token=None, mode="etag")

    def fetch(self, etags: dict[str, str | None]) -> list[RemoteObject]:
        """The data of these objects (``{path: etag listed}``), in calendar-multiget batches.

        An object gone between the listing and the fetch is simply not returned. The
        ETag kept is the listed one: if the object changed in between, the next listing
        shows a newer ETag and it is read again.
        """
        wanted = sorted(etags)
        found: list[RemoteObject] = []
        for first in range(0, len(wanted), MULTIGET_BATCH):
            urls = [self._url(p) for p in wanted[first:first + MULTIGET_BATCH]]
            with _guarded("calendar-multiget"):
                objects = list(self.calendar.multiget(urls))
            for obj in objects:
                data = obj.data
                path = self._path(obj.url)
                if data:
                    found.append(RemoteObject(path, etags.get(path), data))
        return found

    # ----- writing ---------------------------------------------------------------------

    def put(self, path: str, data: str) -> str | None:
        """Create or replace the object at ``path`` as it is (Telesec owns it): one PUT."""
        with _guarded("publish"):
            response = self.client.put(str(self._url(path)), data,
                                       {"Content-Type": 'text/calendar; charset="utf-8"'})
            if response.status not in (200, 201, 204):
                raise dav_error.PutError(f"HTTP {response.status}")
        return _etag(response.headers.get("ETag"))

    def delete(self, path: str) -> None:
        """Delete the object at ``path``; one already gone is fine."""
        event = caldav.Event(client=self.client, url=self._url(path), parent=self.calendar)
        with _guarded("unpublish"):
            event.delete()

    def _url(self, path: str) -> Any:
        return self.calendar.url.join(quote(path, safe="/@:+,;=-._~"))

    @staticmethod
    def _path(url: object) -> str:
        return unquote(urlsplit(str(url)).path)


def list_calendars(source: CalendarSource, *, timeout: float) -> list[tuple[str, str]]:
    """(name, collection address) of the calendars the login sees from ``source.url``.

    ``source.url`` may be the server's root or any address under it: the principal and
    its calendar home are found as CalDAV clients do (RFC 4791, 5397).
    """
    with _guarded("discovery"):
        client = caldav.DAVClient(url=source.url, username=source.username,
                                  password=source.password, timeout=int(max(1, timeout)))
        try:
            found = [(str(c.get_display_name() or c.url), str(c.url))
                     for c in client.principal().calendars()]
        finally:
            client.close()
    return found


class IcsFeed:
    """A read-only iCalendar address, fetched with a conditional GET (ETag)."""

    def __init__(self, source: CalendarSource, *, timeout: float) -> None:
        auth = (source.username, source.password) if source.username else None
        self.url = source.url
        self.requests = 0
        self.http = httpx.Client(auth=auth, timeout=timeout, follow_redirects=True,
                                 headers={"Accept": "text/calendar"})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> IcsFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, etag: str | None) -> tuple[bytes | None, str | None]:
        """(the file, its ETag), or (None, etag) when unchanged since ``etag``."""
        headers = {"If-None-Match": etag} if etag else {}
        self.requests += 1
        try:
            with self.http.stream("GET", self.url, headers=headers) as response:
                if response.status_code == 304:
                    return None, etag
                if response.status_code in (401, 403):
                    raise CalendarServerError(
                        f"the calendar server refused access (HTTP {response.status_code}); "
                        "check the address and the credentials")
                if response.status_code == 404:
                    raise CalendarServerError("no calendar at that address (HTTP 404)")
                if response.status_code >= 400:
                    raise CalendarServerError(
                        f"the calendar server answered HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > ICS_MAX_BYTES:
                        raise CalendarServerError("the ICS file is larger than 20 MB")
                return bytes(body), response.headers.get("etag")
        except httpx.TimeoutException:
            raise CalendarServerError("calendar server unreachable (timeout)") from None
        except httpx.HTTPError as exc:
            raise CalendarServerError(
                f"calendar server unreachable ({type(exc).__name__})") from None


def _sync_refused(exc: BaseException) -> bool:
    """A 403 that refuses the REPORT itself (no sync support), not the login."""
    text = str(exc)
    return "supported-report" in text or "sync-collection" in text


def _etag(value: object) -> str | None:
    return str(value)[:255] if value else None


@contextmanager
def _guarded(what: str, passthrough: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn the library's and the network's exceptions into one CalendarServerError."""
    try:
        yield
    except CalendarServerError:
        raise
    except passthrough:
        raise
    except Exception as exc:
        raise _server_error(what, exc) from None


def _server_error(what: str, exc: BaseException) -> CalendarServerError:
    name = type(exc).__name__
    if isinstance(exc, dav_error.AuthorizationError):
        return CalendarServerError(
            "the calendar server refused the user name or password (HTTP 401/403); "
            "link the calendar again with the right ones (an app password for Apple/Google)")
    if isinstance(exc, dav_error.NotFoundError):
        return CalendarServerError("no calendar at that address (HTTP 404); check the "
                                   "collection's address")
    if isinstance(exc, dav_error.DAVError):
        return CalendarServerError(f"the calendar server failed during {what} ({name})")
    if isinstance(exc, etree.LxmlError):
        return CalendarServerError(f"the calendar server's answer to {what} is not CalDAV")
    return CalendarServerError(f"calendar server unreachable during {what} ({name})")
