"""SEC's nightly bulk archives as a streaming source of the Bronze EDGAR tables.

SEC asks bulk users to download two archives instead of crawling the per-company API:

* ``companyfacts.zip`` (:data:`COMPANYFACTS_ZIP_URL`): one ``CIK##########.json`` per company, the same
  document ``/api/xbrl/companyfacts/CIK##########.json`` returns;
* ``submissions.zip`` (:data:`SUBMISSIONS_ZIP_URL`): one ``CIK##########.json`` per company (the
  ``/submissions/`` index) plus its extra pages ``CIK##########-submissions-###.json``.

:func:`iter_company_facts` and :func:`iter_filings` read such an archive **member by member, straight from
the zip** (nothing is unpacked to disk; one company's JSON and its Arrow table are in memory at a time)
and yield one :class:`BulkCompany` per company, parsed by the very functions the per-company path uses
(:func:`~finance_assets.edgar.parse.parse_company_facts`, :func:`~finance_assets.edgar.parse.parse_submissions`),
so the frames have exactly the Bronze schemas of ``bronze.edgar_company_facts`` / ``bronze.edgar_filings``
and ``payload_sha256`` is the sha256 of the member's bytes (the bytes the API would have served). A
malformed member is that company's failure (``BulkCompany.error``), never the archive's.

Companies are keyed by ``companies`` (CIK -> company key, e.g. the ticker of the universe), which also
selects them without reading anyone else's member; without it every company in the archive is read and
keyed by its 10-digit CIK (most of the ~18,000 XBRL filers have no ticker in SEC's ticker map).

:func:`fetch_archive` downloads an archive to a file through the project's one HTTP client (the SEC
resource's :class:`~finance_assets.core.http.SourceClient`: its User-Agent, rate budget, configured origin and
retries), streamed to disk, never held in memory, conditional on the previous download's
``ETag``/``Last-Modified`` (an unchanged archive costs one 304). In replay (``REPLAY_DIR``) the SEC client's
transport is :func:`bulk_replay`: the two archive URLs are answered by :class:`BulkArchiveReplay`, which
**builds** the archive from the recorded per-company payloads (``edgar/companyfacts``, ``edgar/submissions``)
with :func:`build_archive` and **caches** it under ``$LAKEHOUSE_HOME/http_cache/replay_bulk/`` (rebuilt when
the recordings change); every other EDGAR URL goes to the ordinary replay routes.

:func:`companies_filed_since` lists the companies with a filing accepted on or after a date, from the
``filings.recent`` block of their submissions index (what the daily refresh needs to ask the per-company
API only for companies that changed).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

import httpx
import orjson
import pyarrow as pa

from finance_assets.core.http import Download, SourceClient
from finance_assets.edgar.parse import (
    PayloadError,
    normalize_cik,
    parse_company_facts,
    parse_submissions,
    submissions_pages,
)

log = logging.getLogger("finance_assets.edgar.bulk")

COMPANYFACTS_ZIP_URL = "https://www.sec.gov/Archives/edgar/daily-index/xbrl/companyfacts.zip"
SUBMISSIONS_ZIP_URL = "https://www.sec.gov/Archives/edgar/daily-index/bulkdata/submissions.zip"
#: archive name -> (URL, folder of the per-company recordings under the replay root it is built from)
ARCHIVES: dict[str, tuple[str, str]] = {
    "companyfacts": (COMPANYFACTS_ZIP_URL, "edgar/companyfacts"),
    "submissions": (SUBMISSIONS_ZIP_URL, "edgar/submissions"),
}

INDEX_MEMBER = re.compile(r"^CIK(?P<cik>\d{10})\.json$")
PAGE_MEMBER = re.compile(r"^CIK(?P<cik>\d{10})-submissions-\d{3}\.json$")
_RECORDED = re.compile(r"^CIK\d{10}(?:-submissions-\d{3})?\.json(?:\.gz)?$")
# A fixed member timestamp: an archive built from the same payloads is byte-identical (stable ETag).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20


class BulkArchiveError(ValueError):
    """The archive itself is unusable (not a zip, truncated); names the file and what to do."""


@dataclass(frozen=True)
class BulkCompany:
    """One company read from a bulk archive: its Bronze frame, or why it could not be read."""

    cik: str
    key: str  # the company key written to the ``ticker`` column
    member: str
    table: pa.Table | None
    payload_sha256: str = ""
    error: str | None = None
    missing_pages: tuple[str, ...] = ()
    # (member, bytes) of every member read for the company: for the raw payload archive (one company's worth)
    payloads: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)


# ---- reading ---------------------------------------------------------------------------------------


def _open_zip(archive: Path | IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BulkArchiveError(
            f"{archive}: not a readable zip archive ({exc}); the download may be truncated: fetch it again"
        ) from exc


def _index_members(zf: zipfile.ZipFile, companies: Mapping[str, str] | None) -> Iterator[tuple[str, str, str]]:
    """``(cik, key, member)`` for every company index member, in archive order, selected by ``companies``."""
    for info in zf.infolist():
        match = INDEX_MEMBER.match(info.filename)
        if match is None:
            continue
        cik = match["cik"]
        if companies is None:
            yield cik, cik, info.filename
        elif cik in companies:
            yield cik, companies[cik], info.filename


def _normalized(companies: Mapping[str, str] | None) -> dict[str, str] | None:
    if companies is None:
        return None
    return {normalize_cik(cik): key for cik, key in companies.items()}


def _read_member(zf: zipfile.ZipFile, member: str) -> tuple[bytes, str]:
    data = zf.read(member)
    return data, hashlib.sha256(data).hexdigest()


def iter_company_facts(
    archive: Path | IO[bytes], *, companies: Mapping[str, str] | None = None
) -> Iterator[BulkCompany]:
    """Each company of a ``companyfacts.zip`` as a ``bronze.edgar_company_facts`` frame, one at a time."""
    selected = _normalized(companies)
    with _open_zip(archive) as zf:
        for cik, key, member in _index_members(zf, selected):
            sha = ""
            try:
                data, sha = _read_member(zf, member)
                table = parse_company_facts(data, ticker=key, payload_sha256=sha)
            except (PayloadError, ValueError, TypeError, KeyError, pa.ArrowInvalid, zipfile.BadZipFile) as exc:
                yield BulkCompany(cik, key, member, None, sha, error=_member_error(archive, member, key, exc))
                continue
            if table.num_rows and table.column("cik")[0].as_py() != cik:
                problem = f"its document is for CIK {table.column('cik')[0].as_py()}"
                yield BulkCompany(cik, key, member, None, sha, error=_member_error(archive, member, key, problem))
                continue
            yield BulkCompany(cik, key, member, table, sha, payloads=((member, data),))


def iter_filings(archive: Path | IO[bytes], *, companies: Mapping[str, str] | None = None) -> Iterator[BulkCompany]:
    """Each company of a ``submissions.zip`` as a ``bronze.edgar_filings`` frame (index + its extra pages).

    A page the index lists but the archive lacks is named in ``missing_pages`` (the company's recent
    filings still load), as the per-company path does for a page that answers 404.
    """
    selected = _normalized(companies)
    with _open_zip(archive) as zf:
        names = set(zf.namelist())
        for cik, key, member in _index_members(zf, selected):
            sha = ""
            try:
                data, sha = _read_member(zf, member)
                doc = orjson.loads(data)
                if not isinstance(doc, dict):
                    raise PayloadError("the document is not a JSON object")
                pages, missing, read = [], [], [(member, data)]
                for page in submissions_pages(doc):
                    if page not in names:
                        missing.append(page)
                        continue
                    page_data, page_sha = _read_member(zf, page)
                    read.append((page, page_data))
                    pages.append((page, orjson.loads(page_data), page_sha))
                table = parse_submissions(doc, pages, ticker=key, payload_sha256=sha)
            except (PayloadError, ValueError, TypeError, KeyError, pa.ArrowInvalid, zipfile.BadZipFile) as exc:
                yield BulkCompany(cik, key, member, None, sha, error=_member_error(archive, member, key, exc))
                continue
            yield BulkCompany(cik, key, member, table, sha, missing_pages=tuple(missing), payloads=tuple(read))


def _member_error(archive: Path | IO[bytes], member: str, key: str, problem: object) -> str:
    where = archive if isinstance(archive, str | Path) else getattr(archive, "name", "<stream>")
    return (
        f"{key} (member {member} of {where}): {problem}. The company's other members and the other companies "
        "are unaffected; re-fetch the archive, or load this company through the per-company API."
    )


def filings_since(
    documents: Iterable[tuple[str, bytes | dict[str, Any]]], since: date, *, forms: Iterable[str] | None = None
) -> dict[str, list[tuple[str, str, str]]]:
    """CIK -> ``(accession number, form, filing date)`` of the filings dated on or after ``since``.

    ``documents``: ``(name, submissions index)`` pairs, e.g. :func:`iter_submission_documents` over a
    ``submissions.zip`` or the per-company API's responses. Only ``filings.recent`` is read: it holds a
    company's latest filings (up to 1,000 or one year), so anything filed since a recent date is there.
    The date is the filing date (EDGAR's business day of acceptance). A malformed document raises
    :class:`PayloadError` naming it. ``forms``: only these form types.
    """
    wanted = {f.upper() for f in forms} if forms is not None else None
    changed: dict[str, list[tuple[str, str, str]]] = {}
    cutoff = since.isoformat()
    for name, document in documents:
        doc = orjson.loads(document) if isinstance(document, bytes | bytearray | memoryview) else document
        try:
            cik = normalize_cik(doc["cik"])
            recent = doc["filings"]["recent"]
            accessions, filed, kinds = recent["accessionNumber"], recent["filingDate"], recent["form"]
        except (KeyError, TypeError, ValueError) as exc:
            raise PayloadError(f"{name}: not a submissions index (no cik/filings.recent: {exc!r})") from exc
        if not len(accessions) == len(filed) == len(kinds):
            raise PayloadError(f"{name}: filings.recent columns have different lengths: a truncated document")
        hits = [
            (accession, str(form), day)
            for accession, day, form in zip(accessions, filed, kinds, strict=True)
            if day and day >= cutoff and (wanted is None or str(form).upper() in wanted)
        ]
        if hits:
            changed[cik] = hits
    return changed


def companies_filed_since(
    documents: Iterable[tuple[str, bytes | dict[str, Any]]], since: date, *, forms: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """CIK -> accession numbers of the filings dated on or after ``since`` (see :func:`filings_since`)."""
    return {cik: [a for a, _, _ in rows] for cik, rows in filings_since(documents, since, forms=forms).items()}


def iter_submission_documents(archive: Path | IO[bytes]) -> Iterator[tuple[str, bytes]]:
    """``(member, bytes)`` of every company index in a ``submissions.zip`` (pages skipped), one at a time."""
    with _open_zip(archive) as zf:
        for _, _, member in _index_members(zf, None):
            yield member, zf.read(member)


# ---- building (replay and tests) -------------------------------------------------------------------


def recorded_members(folder: Path) -> list[tuple[str, Path]]:
    """``(member name, recorded file)`` for every payload in a replay folder; ``.gz`` served decompressed."""
    members = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and _RECORDED.match(path.name) and ".trimmed." not in path.name:
            members.append((path.name.removesuffix(".gz"), path))
    return members


def build_archive(members: Iterable[tuple[str, bytes | Callable[[], bytes]]], dest: Path) -> Path:
    """Write a zip like SEC's bulk archives: ``members`` in the given order, deflated, fixed timestamps.

    Written to a temporary file and renamed into place, so a reader never sees half an archive. A
    member's bytes may be given lazily (a callable), so building holds one member in memory at a time.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data() if callable(data) else data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _payload(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw

    return read


def build_recorded_archive(replay_root: Path, name: str, dest: Path) -> Path:
    """The ``name`` archive (``companyfacts`` or ``submissions``) of every payload recorded under ``replay_root``."""
    folder = replay_root / ARCHIVES[name][1]
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no recorded {name} payloads to build {name}.zip from")
    return build_archive(((member, _payload(path)) for member, path in recorded_members(folder)), dest)


class BulkArchiveReplay(httpx.BaseTransport):
    """Replay of the bulk archive URLs: an archive built from the recordings, cached; other URLs to ``inner``.

    The archive is built on first request into ``cache_dir/<name>-<fingerprint>.zip``; the fingerprint
    covers the recorded files' names, sizes and modification times, so a changed recording makes a new
    archive and an unchanged one is served from the cache. It is served in chunks (never read whole),
    with an ``ETag``/``Last-Modified`` that honour ``If-None-Match``/``If-Modified-Since``.
    """

    def __init__(self, replay_root: Path, cache_dir: Path, inner: httpx.BaseTransport | None = None) -> None:
        self.replay_root = Path(replay_root).resolve()
        self.cache_dir = Path(cache_dir)
        self.inner = inner
        self._urls = {httpx.URL(url).path: name for name, (url, _) in ARCHIVES.items()}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # by path alone: the client may be pointed at a mirror or test server (SEC_WWW_BASE_URL)
        name = self._urls.get(request.url.path)
        if name is None:
            if self.inner is None:
                return httpx.Response(404, text=f"Not Found (replay: no route for {request.url.path})")
            return self.inner.handle_request(request)
        path, newest = self.archive(name)
        etag = f'"{path.stem.rsplit("-", 1)[-1]}"'
        modified = format_datetime(newest, usegmt=True)
        headers = {"etag": etag, "last-modified": modified, "x-replay": "built"}
        if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")} or _not_modified_since(
            request.headers.get("if-modified-since"), newest
        ):
            return httpx.Response(304, headers=headers, request=request)
        headers |= {"content-type": "application/zip", "content-length": str(path.stat().st_size)}
        return httpx.Response(200, headers=headers, stream=_FileStream(path), request=request)

    def archive(self, name: str) -> tuple[Path, datetime]:
        """The cached archive for ``name`` (built if missing) and the newest recording's time."""
        folder = self.replay_root / ARCHIVES[name][1]
        members = recorded_members(folder) if folder.is_dir() else []
        digest = hashlib.sha256()
        newest = 0.0
        for member, path in members:
            stat = path.stat()
            digest.update(f"{member}\0{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            newest = max(newest, stat.st_mtime)
        path = self.cache_dir / f"{name}-{digest.hexdigest()[:16]}.zip"
        if not path.exists():
            log.info("replay: building %s from %d recorded payloads into %s", name, len(members), path)
            build_archive(((member, _payload(p)) for member, p in members), path)
        return path, datetime.fromtimestamp(int(newest), UTC)


def _not_modified_since(header: str | None, modified: datetime) -> bool:
    if not header:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    return modified <= since


class _FileStream(httpx.SyncByteStream):
    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk


# ---- fetching --------------------------------------------------------------------------------------


def require_zip(path: Path) -> None:
    """A 200 whose body is not a whole zip (an HTML rate-limit page, a cut transfer) is no archive."""
    try:
        with zipfile.ZipFile(path) as zf:
            zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"the body is not a zip archive ({exc})") from None


def fetch_archive(client: SourceClient, name: str, dest: Path) -> Download:
    """Download the ``name`` archive (``companyfacts``/``submissions``) to ``dest`` through the SEC client.

    The project's one HTTP client (:meth:`~finance_assets.core.http.SourceClient.download`): SEC's
    ``User-Agent``, the deployment's SEC rate budget, the configured origin (``SEC_WWW_BASE_URL``), its
    retries; streamed to disk and conditional on the previous download of ``dest`` (an unchanged archive is
    one 304 and ``dest`` stays). A body that is not a zip is retried, then fails as a malformed payload.
    In replay the client's transport answers with :class:`BulkArchiveReplay`.
    """
    return client.download(ARCHIVES[name][0], dest, verify=require_zip)


def bulk_replay(replay_root: Path, cache_dir: Path, inner: httpx.BaseTransport) -> httpx.BaseTransport:
    """The SEC replay transport: the two archive URLs built from the recordings, every other URL to ``inner``."""
    return BulkArchiveReplay(replay_root, cache_dir / "replay_bulk", inner)
