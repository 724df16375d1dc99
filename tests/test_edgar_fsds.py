"""SEC Financial Statement Data Sets -> the Bronze facts model, checked against the recorded quarters.

Expected values are those the replay README gives for Apple's 10-Qs (read from the filings), counts are
recounted from num.txt with the csv module, and the cross-check compares with Apple's recorded
companyfacts payload: a second source for the same accessions, not our own output.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from finance_assets.edgar.fsds import FSDS_FACTS_SCHEMA, FsdsError, fsds_period, read_quarter
from finance_assets.edgar.parse import COMPANY_FACTS_SCHEMA, FILINGS_SCHEMA, parse_company_facts

APPLE = {"320193": "AAPL"}


def _quarter_zip(replay_dir: Path, quarter: str) -> Path:
    return replay_dir / "edgar" / "financial-statement-data-sets" / f"{quarter}.zip"


@pytest.fixture(scope="module")
def q2009(replay_dir: Path):
    return read_quarter(_quarter_zip(replay_dir, "2009q3"))


@pytest.fixture(scope="module")
def q2010(replay_dir: Path):
    return read_quarter(_quarter_zip(replay_dir, "2010q2"))


def _fact(facts: pl.DataFrame, accn: str, concept: str, end: date, qtrs: int) -> pl.DataFrame:
    return facts.filter(
        (pl.col("accn") == accn)
        & (pl.col("concept") == concept)
        & (pl.col("end_date") == end)
        & (pl.col("qtrs") == qtrs)
    )


def _value(facts: pl.DataFrame, accn: str, concept: str, end: date, qtrs: int) -> list[float]:
    return _fact(facts, accn, concept, end, qtrs)["value"].to_list()


def test_the_facts_schema_is_companyfacts_plus_how_the_period_was_obtained() -> None:
    assert FSDS_FACTS_SCHEMA.names[: len(COMPANY_FACTS_SCHEMA)] == COMPANY_FACTS_SCHEMA.names
    assert FSDS_FACTS_SCHEMA.names[len(COMPANY_FACTS_SCHEMA) :] == ["qtrs", "dates_derived"]


def test_apple_10q_for_the_quarter_ended_june_2009_has_the_reported_values(replay_dir: Path) -> None:
    quarter = read_quarter(_quarter_zip(replay_dir, "2009q3"), companies=APPLE)
    facts = pl.from_arrow(quarter.facts)
    accn = "0001193125-09-153165"
    assert _value(facts, accn, "SalesRevenueNet", date(2009, 6, 30), 1) == [8_337_000_000]
    assert _value(facts, accn, "NetIncomeLoss", date(2009, 6, 30), 1) == [1_229_000_000]
    assert _value(facts, accn, "Assets", date(2009, 6, 30), 0) == [48_140_000_000]
    revenue = facts.filter(
        (pl.col("concept") == "SalesRevenueNet") & (pl.col("qtrs") == 1) & (pl.col("end_date") == date(2009, 6, 30))
    )
    row = revenue.row(0, named=True)
    # the filing, from sub.txt
    assert (row["form"], row["filed"], row["fy"], row["fp"]) == ("10-Q", date(2009, 7, 22), 2009, "Q3")
    assert (row["cik"], row["ticker"], row["entity_name"], row["taxonomy"], row["unit"]) == (
        "0000320193",
        "AAPL",
        "APPLE INC",
        "us-gaap",
        "USD",
    )
    # the period: month-end ddate, start derived from qtrs, and marked as such
    assert (row["start_date"], row["dates_derived"], row["frame"]) == (date(2009, 4, 1), True, None)
    assets = facts.filter((pl.col("concept") == "Assets") & (pl.col("end_date") == date(2009, 6, 30))).row(
        0, named=True
    )
    assert assets["start_date"] is None and assets["qtrs"] == 0
    assert set(facts["ticker"]) == {"AAPL"}


def test_apple_10q_for_the_quarter_ended_march_2010_has_the_reported_values(q2010) -> None:
    facts = pl.from_arrow(q2010.facts)
    accn = "0001193125-10-088957"
    assert _value(facts, accn, "SalesRevenueNet", date(2010, 3, 31), 1) == [13_499_000_000]
    assert _value(facts, accn, "NetIncomeLoss", date(2010, 3, 31), 1) == [3_074_000_000]
    # a six-month value: two quarters back from the March month end
    six = _fact(facts, accn, "SalesRevenueNet", date(2010, 3, 31), 2)
    assert six.select("start_date", "end_date", "value").rows() == [
        (date(2009, 10, 1), date(2010, 3, 31), 29_182_000_000)
    ]
    # companies without a ticker map are keyed by their 10-digit CIK
    assert facts.filter(pl.col("cik") == "0000320193")["ticker"].unique().to_list() == ["0000320193"]


def test_per_share_values_take_companyfacts_units(q2009) -> None:
    eps = _fact(pl.from_arrow(q2009.facts), "0001193125-09-153165", "EarningsPerShareBasic", date(2009, 6, 30), 1)
    # num.txt says uom USD; tag.txt says perShare; companyfacts writes USD/shares
    assert eps.select("unit", "value").rows() == [("USD/shares", 1.38)]


@pytest.mark.parametrize("quarter", ["2009q3", "2010q2"])
def test_every_fsds_apple_fact_agrees_with_companyfacts_for_the_same_accession(replay_dir: Path, quarter: str) -> None:
    fsds = pl.from_arrow(read_quarter(_quarter_zip(replay_dir, quarter), companies=APPLE).facts)
    payload = gzip.decompress((replay_dir / "edgar" / "companyfacts" / "CIK0000320193.json.gz").read_bytes())
    companyfacts = pl.from_arrow(parse_company_facts(payload, ticker="AAPL")).filter(
        pl.col("accn").is_in(fsds["accn"].unique().to_list())
    )
    # companyfacts has the exact dates; put them on FSDS's grain (month-end end, whole quarters)
    grain = [fsds_period(s, e) for s, e in zip(companyfacts["start_date"], companyfacts["end_date"], strict=True)]
    companyfacts = companyfacts.with_columns(
        ddate=pl.Series([g[0] for g in grain], dtype=pl.Date), qtrs=pl.Series([g[1] for g in grain], dtype=pl.Int32)
    )
    keys = ["accn", "taxonomy", "concept", "unit"]
    joined = fsds.join(
        companyfacts.select(
            *keys, "ddate", "qtrs", pl.col("value").alias("companyfacts_value"), pl.col("end_date").alias("exact_end")
        ),
        left_on=[*keys, "end_date", "qtrs"],
        right_on=[*keys, "ddate", "qtrs"],
        how="left",
    )
    assert fsds.height > 150
    assert joined.height == fsds.height  # one companyfacts fact per FSDS fact
    assert joined.filter(pl.col("companyfacts_value").is_null()).height == 0
    assert (joined["value"] == joined["companyfacts_value"]).all()
    # and the exact dates differ from FSDS's: Apple's quarters end on the last Saturday
    assert joined.filter(pl.col("exact_end") != pl.col("end_date")).height > 0


def test_fsds_period_rounds_like_the_sec() -> None:
    assert fsds_period(date(2009, 3, 29), date(2009, 6, 27)) == (date(2009, 6, 30), 1)
    assert fsds_period(date(2008, 9, 28), date(2009, 6, 27)) == (date(2009, 6, 30), 3)
    assert fsds_period(None, date(2008, 9, 27)) == (date(2008, 9, 30), 0)
    assert fsds_period(date(2008, 9, 28), date(2009, 9, 26)) == (date(2009, 9, 30), 4)  # 52 weeks
    assert fsds_period(None, date(2009, 1, 3)) == (date(2008, 12, 31), 0)  # early in a month: the previous end


def _num_rows(path: Path) -> list[dict[str, str]]:
    with zipfile.ZipFile(path) as zf, zf.open("num.txt") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        return list(csv.DictReader(text, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_only_consolidated_standard_taxonomy_facts_are_kept(replay_dir: Path, q2009) -> None:
    rows = _num_rows(_quarter_zip(replay_dir, "2009q3"))
    consolidated = [r for r in rows if not r["segments"] and not r["coreg"] and "/" in r["version"] and r["value"]]
    assert q2009.rows_read == len(rows) == 126_650
    assert q2009.facts.num_rows == len(consolidated)
    assert q2009.facts.num_rows + sum(q2009.dropped.values()) == len(rows)
    assert q2009.dropped["segments"] == sum(1 for r in rows if r["segments"])
    facts = pl.from_arrow(q2009.facts)
    assert set(facts["taxonomy"]) == {"us-gaap", "dei"}
    extension = next(r for r in rows if "/" not in r["version"] and not r["segments"] and not r["coreg"])
    assert facts.filter((pl.col("accn") == extension["adsh"]) & (pl.col("concept") == extension["tag"])).height == 0
    # Berkshire tagged even its consolidated totals with a member in 2009: nothing of it is consolidated
    assert "0001067983" in q2009.ciks_without_facts()


def test_companies_are_yielded_one_frame_each(q2010) -> None:
    companies = list(q2010.companies())
    sub_ciks = {c.zfill(10) for c in q2010.submissions.column("cik").to_pylist()}
    assert len(sub_ciks) == 500  # sub.txt of 2010q2: 522 submissions by 500 filers
    assert {c.cik for c in companies} == sub_ciks - set(q2010.ciks_without_facts())
    assert sum(c.table.num_rows for c in companies) == q2010.facts.num_rows
    assert all(c.table.schema == FSDS_FACTS_SCHEMA and set(c.table["cik"].to_pylist()) == {c.cik} for c in companies)


def test_quarter_filings_use_the_bronze_filings_schema(q2009) -> None:
    filings = pl.from_arrow(q2009.filings())
    assert q2009.filings().schema == FILINGS_SCHEMA
    apple = filings.filter(pl.col("accession_number") == "0001193125-09-153165").row(0, named=True)
    assert (apple["form"], apple["filing_date"], apple["report_date"]) == ("10-Q", date(2009, 7, 22), date(2009, 6, 30))
    assert apple["page"] == "fsds:2009q3.zip" and apple["fiscal_year_end"] == "0930"


def test_a_zip_without_num_txt_is_named_as_not_a_data_set(tmp_path: Path, replay_dir: Path) -> None:
    source = _quarter_zip(replay_dir, "2009q3")
    broken = tmp_path / "2009q3.zip"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(broken, "w") as zout:
        for name in ("sub.txt", "tag.txt"):
            zout.writestr(name, zin.read(name))
    with pytest.raises(FsdsError, match=r"2009q3\.zip: no num\.txt"):
        read_quarter(broken)
    with pytest.raises(FsdsError, match="not a readable zip"):
        read_quarter(io.BytesIO(b"PK\x03\x04 truncated"))
