"""The bulk source of the EDGAR company assets: a run's companies read from SEC's nightly archives.

Used by ``bronze/edgar_company_facts`` and ``bronze/edgar_filings`` when their ``edgar_source`` resource says
``mode: bulk`` (the job ``edgar_bulk_load``): the same assets, tables, partitions and per-company isolation as
the per-company API, only the payloads come from a member of ``companyfacts.zip`` / ``submissions.zip``
instead of a GET each. The archive is downloaded once to ``bulk_dir`` through the SEC client (conditional: the
other runs of the load, and tomorrow's if SEC has not republished, get a 304) and read member by member,
only the run's companies' members (the zip's central directory gives each member's offset).

Memory is bounded by one company: each company's frame is parsed, summarised and spooled to a Parquet file
(:class:`~finance_assets.core.companies.SpooledFrames`) before the next member is read; validation, the one
atomic commit and the checks read the spool back one company at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from finance_assets.core.archive import PayloadArchive
from finance_assets.core.checks import Metadata
from finance_assets.core.companies import (
    INCOMPLETE_FILING_INDEX,
    CompanyStep,
    MalformedPayload,
    NotFound,
    SpooledFrames,
)
from finance_assets.core.http import Download, SourceError
from finance_assets.edgar.bulk import BulkArchiveError, BulkCompany, fetch_archive, iter_company_facts, iter_filings
from finance_assets.edgar.resources import EdgarSourceResource, SecEdgarResource

#: endpoint (as named in bronze.ingest_status) -> (archive, reader)
READERS: dict[str, tuple[str, Callable[..., Iterator[BulkCompany]]]] = {
    "companyfacts": ("companyfacts", iter_company_facts),
    "submissions": ("submissions", iter_filings),
}


@dataclass
class BulkLoad:
    """What a run read from an archive: the spooled frames and each company's summary."""

    download: Download
    frames: SpooledFrames
    per_company: dict[str, Metadata] = field(default_factory=dict)
    missing_pages: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pages_read: dict[str, int] = field(default_factory=dict)  # members read per company (index + pages)

    def metadata(self) -> Metadata:
        """Run metadata naming the archive the run read (its URL, hash and whether it was re-downloaded)."""
        return {
            "source": "bulk",
            "source_url": dg.MetadataValue.url(self.download.url),
            "archive_sha256": self.download.sha256,
            "archive_bytes": self.download.size,
            "http_status": self.download.status,
            "fetched_at": self.download.fetched_at.isoformat(),
        }


def download(sec: SecEdgarResource, source: EdgarSourceResource, archive: str) -> Download:
    """The archive on local disk, revalidated (a 304 when SEC has not republished it); a failure fails the run."""
    try:
        with sec.client() as client:
            return fetch_archive(client, archive, Path(source.bulk_dir) / f"{archive}.zip")
    except SourceError as exc:
        raise dg.Failure(
            description=f"SEC's {archive}.zip could not be downloaded: {exc}. No table was changed; re-run later, "
            "or load the companies through the per-company API (job bronze_edgar_companies)."
        ) from exc


def load(
    step: CompanyStep,
    sec: SecEdgarResource,
    source: EdgarSourceResource,
    payloads: PayloadArchive,
    scratch: Path,
    summarize: Callable[[pl.DataFrame], Metadata],
) -> BulkLoad:
    """Every company of the step from its archive member, spooled; a bad or absent member fails its company."""
    archive, reader = READERS[step.endpoint]
    fetched = download(sec, source, archive)
    tickers_of: dict[str, list[str]] = {}
    for ticker, cik in step.ciks.items():  # a CIK can have several tickers (share classes): one member each
        tickers_of.setdefault(cik, []).append(ticker)
    loaded = BulkLoad(fetched, SpooledFrames(scratch / step.endpoint))
    seen: set[str] = set()
    try:
        members = reader(fetched.path, companies={cik: keys[0] for cik, keys in tickers_of.items()})
        for company in members:
            seen.add(company.cik)
            for ticker in tickers_of[company.cik]:
                for member, data in company.payloads:
                    payloads.put(
                        "sec", f"{fetched.url}#{member}", data, fetched_at=fetched.fetched_at, partition_key=ticker
                    )
                _add(step, loaded, company, ticker, summarize)
    except BulkArchiveError as exc:
        raise dg.Failure(description=f"{exc} No table was changed.") from exc
    for cik, keys in tickers_of.items():
        if cik not in seen:
            for ticker in keys:
                detail = f"{fetched.url} has no member CIK{cik}.json (SEC has no {step.endpoint} for this company)"
                step.fail(NotFound(ticker, cik, step.endpoint, detail))
    return loaded


def _add(
    step: CompanyStep, loaded: BulkLoad, company: BulkCompany, ticker: str, summarize: Callable[[pl.DataFrame], Any]
) -> None:
    if company.error is not None or company.table is None:
        detail = company.error or "no table"
        step.fail(MalformedPayload(ticker, company.cik, step.endpoint, detail, payload_sha256=company.payload_sha256))
        return
    frame = pl.from_arrow(company.table)
    assert isinstance(frame, pl.DataFrame)
    if ticker != company.key:  # a second ticker of the same CIK: the same rows under its own key
        frame = frame.with_columns(pl.lit(ticker).alias("ticker"))
    if step.endpoint == "submissions":
        frame = frame.unique(subset=["accession_number"], keep="first", maintain_order=True)
        if company.missing_pages:
            step.note(
                ticker,
                INCOMPLETE_FILING_INDEX,
                f"extra submissions pages {', '.join(company.missing_pages)} are not in the archive: older filings "
                "are absent",
            )
    loaded.per_company[ticker] = {
        **summarize(frame),
        "source": "bulk",
        "member": company.member,
        "archive_sha256": loaded.download.sha256,
        **({"pages_missing": ", ".join(company.missing_pages) or "none"} if step.endpoint == "submissions" else {}),
    }
    loaded.missing_pages[ticker] = company.missing_pages
    loaded.pages_read[ticker] = len(company.payloads)
    loaded.frames.add(ticker, frame)


def per_company_rows(loaded: BulkLoad, frames: Mapping[str, pl.DataFrame], ciks: Mapping[str, str]) -> list[Metadata]:
    return [{"ticker": t, "cik": ciks[t], **loaded.per_company[t]} for t in frames]
