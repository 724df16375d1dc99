"""SEC bulk archives (companyfacts.zip, submissions.zip): streamed per company into the Bronze schemas.

Archives are built from the recorded per-company payloads in ../shared/replay; expected values are read
from those payloads (the filings' numbers), never from our own output.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from datetime import date
from pathlib import Path

import httpx
import orjson
import polars as pl
import pytest

from finance_assets.core.http import MalformedPayloadError, SourceClient
from finance_assets.core.settings import Settings
from finance_assets.edgar.bulk import (
    BulkArchiveError,
    BulkArchiveReplay,
    build_archive,
    build_recorded_archive,
    companies_filed_since,
    fetch_archive,
    iter_company_facts,
    iter_filings,
    iter_submission_documents,
)
from finance_assets.edgar.parse import COMPANY_FACTS_SCHEMA, FILINGS_SCHEMA

AAPL = "0000320193"
TSLA = "0001318605"


def _recorded(replay_dir: Path, folder: str, name: str) -> bytes:
    path = replay_dir / "edgar" / folder / name
    return path.read_bytes() if path.exists() else gzip.decompress(path.with_name(name + ".gz").read_bytes())


@pytest.fixture(scope="module")
def archives(replay_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bulk")
    return {
        name: build_recorded_archive(replay_dir, name, folder / f"{name}.zip")
        for name in ("companyfacts", "submissions")
    }


def test_companyfacts_archive_yields_each_recorded_company_in_the_bronze_schema(
    archives: dict[str, Path], replay_dir: Path
) -> None:
    recorded = sorted(p.name.split(".")[0][3:] for p in (replay_dir / "edgar" / "companyfacts").glob("CIK*.json*"))
    companies = list(iter_company_facts(archives["companyfacts"]))
    assert [c.cik for c in companies] == recorded
    assert all(c.error is None and c.table is not None for c in companies)
    assert all(c.table.schema == COMPANY_FACTS_SCHEMA for c in companies if c.table is not None)
    # without a key map, a company is keyed by its 10-digit CIK
    assert all(set(c.table.column("ticker").to_pylist()) == {c.cik} for c in companies if c.table is not None)


def test_bulk_facts_carry_the_values_and_payload_hash_of_the_recorded_filing(
    archives: dict[str, Path], replay_dir: Path
) -> None:
    [apple] = iter_company_facts(archives["companyfacts"], companies={"320193": "AAPL"})
    payload = _recorded(replay_dir, "companyfacts", f"CIK{AAPL}.json")
    assert apple.key == "AAPL" and apple.member == f"CIK{AAPL}.json"
    # the member is the bytes the per-company API serves: same sha256, so rows trace to the same payload
    assert apple.payload_sha256 == hashlib.sha256(payload).hexdigest()
    facts = pl.from_arrow(apple.table)
    assert set(facts.get_column("payload_sha256")) == {apple.payload_sha256}
    # Apple 10-Q 0001193125-09-153165: quarter 2009-03-29..2009-06-27, SalesRevenueNet 8,337,000,000
    row = facts.filter(
        (pl.col("concept") == "SalesRevenueNet")
        & (pl.col("accn") == "0001193125-09-153165")
        & (pl.col("start_date") == date(2009, 3, 29))
        & (pl.col("end_date") == date(2009, 6, 27))
    )
    assert row.get_column("value").to_list() == [8_337_000_000]
    assert set(facts.get_column("ticker")) == {"AAPL"}
    # every fact of the payload is a row
    doc = orjson.loads(payload)
    expected = sum(
        len(facts) for concepts in doc["facts"].values() for b in concepts.values() for facts in b["units"].values()
    )
    assert facts.height == expected


def test_bulk_filings_join_the_extra_pages_present_and_name_the_missing_ones(
    archives: dict[str, Path], replay_dir: Path
) -> None:
    by_cik = {c.cik: c for c in iter_filings(archives["submissions"], companies={AAPL: "AAPL", TSLA: "TSLA"})}
    assert set(by_cik) == {AAPL, TSLA}
    tesla, apple = by_cik[TSLA], by_cik[AAPL]
    assert tesla.table is not None and tesla.table.schema == FILINGS_SCHEMA
    page = orjson.loads(_recorded(replay_dir, "submissions", f"CIK{TSLA}-submissions-001.json"))
    index = orjson.loads(_recorded(replay_dir, "submissions", f"CIK{TSLA}.json"))
    frame = pl.from_arrow(tesla.table)
    # every filing of the index and of its recorded page, each once
    expected = set(index["filings"]["recent"]["accessionNumber"]) | set(page["accessionNumber"])
    assert frame.height == len(expected) and set(frame.get_column("accession_number")) == expected
    old = frame.filter(pl.col("accession_number") == "0000950103-18-001851")
    assert old.get_column("page").to_list() == [f"CIK{TSLA}-submissions-001.json"]
    assert old.get_column("form").to_list() == ["SC 13G/A"]
    assert tesla.missing_pages == ()
    # AAPL's page 001 was not recorded: its recent filings load, the page is named
    assert apple.table is not None and apple.table.num_rows == 1005
    assert apple.missing_pages == (f"CIK{AAPL}-submissions-001.json",)


def test_selecting_companies_never_reads_the_other_members(tmp_path: Path, replay_dir: Path) -> None:
    payload = _recorded(replay_dir, "companyfacts", f"CIK{AAPL}.json")
    archive = build_archive([("CIK0000000001.json", b"{not json"), (f"CIK{AAPL}.json", payload)], tmp_path / "a.zip")
    companies = list(iter_company_facts(archive, companies={AAPL: "AAPL"}))
    assert [(c.key, c.error) for c in companies] == [("AAPL", None)]


def test_a_malformed_member_fails_only_its_company_and_names_it(tmp_path: Path, replay_dir: Path) -> None:
    payload = _recorded(replay_dir, "companyfacts", f"CIK{AAPL}.json")
    archive = build_archive(
        [("CIK0000000001.json", payload[: len(payload) // 2]), (f"CIK{AAPL}.json", payload)], tmp_path / "a.zip"
    )
    broken, apple = iter_company_facts(archive, companies={"1": "BROKEN", AAPL: "AAPL"})
    assert broken.table is None and broken.error is not None
    assert "BROKEN" in broken.error and "CIK0000000001.json" in broken.error
    assert apple.error is None and apple.table is not None and apple.table.num_rows > 20_000


def test_a_member_whose_document_is_another_company_is_rejected(tmp_path: Path, replay_dir: Path) -> None:
    payload = _recorded(replay_dir, "companyfacts", f"CIK{AAPL}.json")
    archive = build_archive([("CIK0000000002.json", payload)], tmp_path / "a.zip")
    [company] = iter_company_facts(archive)
    assert company.table is None and "document is for CIK 0000320193" in (company.error or "")


def test_a_truncated_archive_is_a_clear_error(tmp_path: Path, archives: dict[str, Path]) -> None:
    cut = tmp_path / "cut.zip"
    cut.write_bytes(archives["companyfacts"].read_bytes()[:100_000])
    with pytest.raises(BulkArchiveError, match=r"cut\.zip.*fetch it again"):
        list(iter_company_facts(cut))


class _CountingFile(io.RawIOBase):
    """A seekable file that counts the bytes read through it."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("rb")
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        self.read_bytes += len(data)
        return len(data)


def test_the_archive_is_read_one_company_at_a_time(archives: dict[str, Path]) -> None:
    source = _CountingFile(archives["companyfacts"])
    size = archives["companyfacts"].stat().st_size
    companies = iter_company_facts(source)  # type: ignore[arg-type]
    first = next(companies)
    with zipfile.ZipFile(archives["companyfacts"]) as zf:
        first_member = zf.getinfo(first.member).compress_size
    # the first company cost its own member plus the central directory, not the archive
    assert source.read_bytes < first_member + 64_000 < size
    rest = list(companies)
    assert len(rest) == 7 and source.read_bytes >= size * 0.9


def test_companies_that_filed_a_10k_since_a_date_from_recorded_submissions(archives: dict[str, Path]) -> None:
    changed = companies_filed_since(
        iter_submission_documents(archives["submissions"]), date(2026, 2, 13), forms=["10-K"]
    )
    # the recorded indexes: NVDA 2026-02-25, BRK 2026-03-02, EXPE 2026-02-13, MRVL 2026-03-11 (TSLA's
    # 10-K came 2026-01-29, AAPL's 2025-10-31, MSFT's 2025-07-30; TSM files 20-F)
    assert changed == {
        "0001045810": ["0001045810-26-000021"],
        "0001067983": ["0001193125-26-083899"],
        "0001324424": ["0001324424-26-000008"],
        "0001835632": ["0001835632-26-000011"],
    }
    everything = companies_filed_since(iter_submission_documents(archives["submissions"]), date(2026, 3, 5))
    assert set(everything) == {"0001835632"}  # only MRVL filed anything after 2026-03-04 in the recording


def test_filed_since_names_a_document_that_is_not_a_submissions_index() -> None:
    with pytest.raises(ValueError, match="CIK0000000003.json: not a submissions index"):
        companies_filed_since([("CIK0000000003.json", b'{"cik": "3"}')], date(2024, 1, 1))


def _sec_client(**overrides: object):
    """The SEC resource's client, exactly as an asset gets it (replay transport, shared budget, origins)."""
    from finance_assets.resources import resources_for

    sec = resources_for(Settings.from_env(), secrets="values")["sec"]
    return sec.model_copy(update=overrides).client() if overrides else sec.client()


def test_bulk_urls_replay_as_archives_built_from_the_recordings_and_revalidate(lakehouse_env: Path) -> None:
    dest = lakehouse_env / "bulk" / "companyfacts.zip"
    with _sec_client() as client:
        fetched = fetch_archive(client, "companyfacts", dest)
        assert fetched.status == 200 and fetched.changed and dest.exists()
        assert fetched.sha256 == hashlib.sha256(dest.read_bytes()).hexdigest()
        # built once and cached beside the HTTP cache
        assert len(list((lakehouse_env / "http_cache" / "replay_bulk").glob("companyfacts-*.zip"))) == 1
        assert {c.cik for c in iter_company_facts(dest)} >= {AAPL, "0001045810"}
        again = fetch_archive(client, "companyfacts", dest)
    assert again.status == 304 and not again.changed and again.sha256 == fetched.sha256


def test_bulk_replay_leaves_other_edgar_urls_to_the_recorded_routes(replay_dir: Path, tmp_path: Path) -> None:
    from finance_assets.core.replay import ReplayTransport
    from finance_assets.edgar.replay_routes import EDGAR_ROUTES

    transport = BulkArchiveReplay(replay_dir, tmp_path, ReplayTransport(replay_dir, EDGAR_ROUTES))
    with httpx.Client(transport=transport) as client:
        tickers = client.get("https://www.sec.gov/files/company_tickers.json")
        unknown = client.get("https://data.sec.gov/api/xbrl/companyfacts/CIK0000000009.json")
        archive = client.get("https://www.sec.gov/Archives/edgar/daily-index/bulkdata/submissions.zip")
    assert tickers.status_code == 200 and "AAPL" in tickers.text
    assert unknown.status_code == 404
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        assert f"CIK{TSLA}-submissions-001.json" in zf.namelist()
        assert not any(".trimmed." in n for n in zf.namelist())


def _client(handler, **kwargs: object) -> SourceClient:
    return SourceClient(
        source="sec",
        user_agent="Test Lakehouse test@example.com",
        transport=httpx.MockTransport(handler),
        backoff_base=0.001,
        backoff_max=0.01,
        **kwargs,  # type: ignore[arg-type]
    )


def test_an_archive_download_that_is_not_a_zip_is_retried_then_named(tmp_path: Path) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, text="<html>Request Rate Threshold Exceeded</html>")

    with (
        _client(handler, max_retries=1) as client,
        pytest.raises(
            MalformedPayloadError, match=r"companyfacts\.zip returned a malformed body on all 2 .*not a zip archive"
        ),
    ):
        fetch_archive(client, "companyfacts", tmp_path / "cf.zip")
    assert len(calls) == 2 and not (tmp_path / "cf.zip").exists()
    assert all(r.headers["user-agent"] == "Test Lakehouse test@example.com" for r in calls)
    assert not list(tmp_path.iterdir())  # no partial file left behind


def test_an_archive_download_goes_to_the_configured_origin_under_the_budget_and_retries(
    tmp_path: Path, archives: dict[str, Path]
) -> None:
    """One way to talk to SEC: the client's origin mapping, its rate budget, its retry on 503, its validators."""
    body = archives["submissions"].read_bytes()
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(503, headers={"retry-after": "0"})
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers={"etag": '"v1"'})
        return httpx.Response(200, content=body, headers={"etag": '"v1"', "content-length": str(len(body))})

    from finance_assets.core.ratelimit import RateLimiter

    limiter = RateLimiter(1000.0, name="sec-test")
    taken: list[int] = []
    original = limiter.acquire
    limiter.acquire = lambda *a, **k: (taken.append(1), original(*a, **k))[1]  # type: ignore[method-assign]
    dest = tmp_path / "submissions.zip"
    with _client(handler, origins={"https://www.sec.gov": "http://mirror.test/sec"}, rate_limiter=limiter) as client:
        first = fetch_archive(client, "submissions", dest)
        second = fetch_archive(client, "submissions", dest)
    assert [str(r.url) for r in calls[:1]] == [
        "http://mirror.test/sec/Archives/edgar/daily-index/bulkdata/submissions.zip"
    ]
    assert first.status == 200 and dest.read_bytes() == body and first.sha256 == hashlib.sha256(body).hexdigest()
    assert second.status == 304 and second.sha256 == first.sha256
    assert calls[-1].headers["if-none-match"] == '"v1"'
    assert len(taken) == len(calls) == 3  # every request, retries and revalidations too, took a token
