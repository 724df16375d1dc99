"""Parsing the recorded EDGAR payloads: values must equal what the filings say."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finance_assets.edgar.parse import (
    PayloadError,
    normalize_cik,
    parse_company_facts,
    parse_company_tickers,
    parse_filings,
)


def _facts(replay_dir: Path, cik: str) -> bytes:
    path = replay_dir / "edgar" / "companyfacts" / f"CIK{cik}.json"
    return gzip.decompress(path.with_suffix(".json.gz").read_bytes()) if not path.exists() else path.read_bytes()


def test_aapl_fy2023_revenue_is_the_reported_value(replay_dir: Path) -> None:
    facts = pl.from_arrow(parse_company_facts(_facts(replay_dir, "0000320193"), ticker="AAPL"))
    row = facts.filter(
        (pl.col("concept") == "RevenueFromContractWithCustomerExcludingAssessedTax")
        & (pl.col("unit") == "USD")
        & (pl.col("start_date") == date(2022, 9, 25))
        & (pl.col("end_date") == date(2023, 9, 30))
        & (pl.col("accn") == "0000320193-23-000106")
    )
    assert row.height == 1
    assert row.item(0, "value") == 383_285_000_000
    assert row.item(0, "form") == "10-K"
    assert row.item(0, "taxonomy") == "us-gaap"
    assert row.item(0, "cik") == "0000320193"


def test_every_fact_of_the_payload_becomes_one_row(replay_dir: Path) -> None:
    raw = _facts(replay_dir, "0001045810")
    doc = json.loads(raw)
    expected = sum(
        len(facts) for concepts in doc["facts"].values() for c in concepts.values() for facts in c["units"].values()
    )
    table = parse_company_facts(raw, ticker="NVDA", payload_sha256="abc")
    assert table.num_rows == expected
    frame = pl.from_arrow(table)
    keys = ["taxonomy", "concept", "unit", "start_date", "end_date", "accn"]
    assert frame.select(keys).n_unique() == expected
    # instants have no start; EPS values keep their decimals
    assert frame.filter(pl.col("concept") == "Assets").get_column("start_date").null_count() > 0
    eps = frame.filter(pl.col("concept") == "EarningsPerShareDiluted").get_column("value")
    assert any(v != int(v) for v in eps.to_list())


def test_tsm_facts_arrive_under_ifrs_full(replay_dir: Path) -> None:
    frame = pl.from_arrow(parse_company_facts(_facts(replay_dir, "0001046179"), ticker="TSM"))
    taxonomies = set(frame.get_column("taxonomy").unique().to_list())
    assert "ifrs-full" in taxonomies and "us-gaap" not in taxonomies
    revenue = frame.filter((pl.col("taxonomy") == "ifrs-full") & (pl.col("concept") == "Revenue"))
    assert revenue.height > 0 and set(revenue.get_column("unit").unique().to_list()) >= {"TWD"}


def test_submissions_page_and_extra_page_parse(replay_dir: Path) -> None:
    main = json.loads((replay_dir / "edgar/submissions/CIK0001318605.json").read_text())
    page = json.loads((replay_dir / "edgar/submissions/CIK0001318605-submissions-001.json").read_text())
    company = dict(cik="0001318605", ticker="TSLA", entity_name="Tesla, Inc.", fiscal_year_end="1231", sic="3711")
    recent = parse_filings(main["filings"]["recent"], page="recent", **company)
    older = parse_filings(page, page="CIK0001318605-submissions-001.json", **company)
    assert recent.num_rows == len(main["filings"]["recent"]["accessionNumber"])
    assert older.num_rows == len(page["accessionNumber"])
    first = pl.from_arrow(recent).row(0, named=True)
    assert first["accession_number"] == main["filings"]["recent"]["accessionNumber"][0]
    assert str(first["filing_date"]) == main["filings"]["recent"]["filingDate"][0]
    assert first["acceptance_datetime"].isoformat().startswith(main["filings"]["recent"]["acceptanceDateTime"][0][:19])


def test_ticker_map_unions_both_files(replay_dir: Path) -> None:
    exchange = json.loads((replay_dir / "edgar/company_tickers_exchange.json").read_text())
    plain = json.loads((replay_dir / "edgar/company_tickers.json").read_text())
    frame = pl.from_arrow(parse_company_tickers(exchange, plain))
    aapl = frame.filter(pl.col("ticker") == "AAPL").row(0, named=True)
    assert aapl == {"ticker": "AAPL", "cik": "0000320193", "name": "Apple Inc.", "exchange": "Nasdaq"}
    assert frame.get_column("ticker").is_unique().all()
    assert frame.height >= len({r[2] for r in exchange["data"]})


def test_malformed_payloads_and_ciks_are_rejected() -> None:
    with pytest.raises(PayloadError, match="companyfacts"):
        parse_company_facts(b'{"hello": 1}', ticker="X")
    for bad in ("abc", "12345678901", "0", "-5"):
        with pytest.raises(ValueError, match="Malformed CIK"):
            normalize_cik(bad)
    assert normalize_cik("CIK320193") == "0000320193"
