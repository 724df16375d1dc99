"""Gold built from SEC's Financial Statement Data Sets agrees with Gold built from companyfacts.

Two embedded lakehouses, each through the real Dagster assets and the real ``dbt build``: one whose Bronze
facts and filings come from Apple's recorded companyfacts/submissions (the per-company API path), one whose
Bronze facts and filings are Apple's rows of the asset ``bronze/edgar_fsds_facts`` (the two recorded
quarters, 2009q3 and 2010q2, loaded whole: 431 and 501 companies). Expected values are Apple's, read from
the two 10-Qs (the replay README's checks), and both Golds must show them.

FSDS's Bronze holds only what those two 10-Qs present: no FY2010 Q1 (Apple's 10-Q for it was filed in 2010q1,
not loaded), no FY2009 Q1, no FY2008 Q2. Gold's fiscal calendar must still place each reported quarter after
such a gap; companyfacts has the same kind of gap before Apple's first XBRL filing (FY2008 Q3).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from gold_fixtures import REPLAY, _materialize, _statement_selection, build_lakehouse, fresh_manifest, session_env

from finance_assets.edgar.fsds import fsds_period
from finance_assets.edgar.parse import COMPANY_FACTS_SCHEMA

APPLE_CIK = "0000320193"
QUARTERS = {"2009-07": "2009q3", "2010-04": "2010q2"}
# Apple's 10-Qs (values as filed): quarter ended 2009-06-27 and 2010-03-27
Q3_2009 = "0001193125-09-153165"
Q2_2010 = "0001193125-10-088957"
EXPECTED = {
    Q3_2009: {"revenue": 8_337_000_000, "net_income": 1_229_000_000},
    Q2_2010: {"revenue": 13_499_000_000, "net_income": 3_074_000_000},
}
# Apple's fiscal year ends in September: the quarters those 10-Qs first reported
FISCAL = {Q3_2009: (2009, "Q3"), Q2_2010: (2010, "Q2")}
# Every quarter the two 10-Qs present: each one's own quarter and its prior-year comparative. Apple filed no
# XBRL before 10-Q 0001193125-09-153165, so in companyfacts too these quarters were first reported by them.
SHARED_QUARTERS = {(2008, "Q3"): Q3_2009, (2009, "Q3"): Q3_2009, (2009, "Q2"): Q2_2010, (2010, "Q2"): Q2_2010}


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    yield from session_env(values)


def _fsds_lakehouse(home: Path) -> dict[str, pl.DataFrame]:
    fresh_manifest()
    from finance_assets.core.iceberg import IcebergLakehouse
    from finance_assets.core.settings import Settings
    from finance_assets.definitions import build_definitions
    from finance_assets.edgar.fsds import read_quarter

    settings = Settings.from_env()
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    assert _materialize(defs, instance, ["bronze/sec_company_tickers"]).success
    runs = {k: _materialize(defs, instance, ["bronze/edgar_fsds_facts"], partition_key=k) for k in QUARTERS}
    assert all(r.success for r in runs.values())
    lakehouse = IcebergLakehouse.from_settings(settings)
    fsds = lakehouse.read("bronze.edgar_fsds_facts")
    # the whole quarters landed: hundreds of companies each (the replay README's counts of filers)
    per_quarter = dict(fsds.group_by("quarter").agg(pl.col("cik").n_unique()).iter_rows())
    assert per_quarter["2009q3"] > 400 and per_quarter["2010q2"] > 450
    apple = fsds.filter(pl.col("cik") == APPLE_CIK).with_columns(pl.lit("AAPL").alias("ticker"))
    lakehouse.write(
        "bronze.edgar_company_facts",
        apple.select(COMPANY_FACTS_SCHEMA.names),
        partition_by=["identity(ticker)"],
    )
    folder = REPLAY / "edgar" / "financial-statement-data-sets"
    filings = pl.concat(
        [
            pl.from_arrow(read_quarter(folder / f"{q}.zip", companies={APPLE_CIK: "AAPL"}).filings())
            for q in QUARTERS.values()
        ]
    )
    lakehouse.write("bronze.edgar_filings", filings, partition_by=["identity(ticker)"])
    dbt = _materialize(defs, instance, _statement_selection(defs))
    assert dbt.success
    return {
        t: lakehouse.read(f"gold.{t}").filter(pl.col("ticker") == "AAPL") for t in ("income_statement", "balance_sheet")
    }


@pytest.fixture(scope="module")
def golds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, pl.DataFrame]]:
    from finance_assets.core.iceberg import IcebergLakehouse
    from finance_assets.core.settings import Settings

    built: dict[str, dict[str, pl.DataFrame]] = {}
    base = tmp_path_factory.mktemp("fsds-gold")
    for name in ("companyfacts", "fsds"):
        home = base / name
        env = {
            "LAKEHOUSE_HOME": str(home),
            "REPLAY_DIR": str(REPLAY),
            "DAGSTER_HOME": str(home / "dagster"),
            "UNIVERSE": "AAPL",
        }
        with _env(env):
            if name == "fsds":
                built[name] = _fsds_lakehouse(home)
            else:
                build_lakehouse(home, REPLAY, ("AAPL",), with_markets=False)
                lakehouse = IcebergLakehouse.from_settings(Settings.from_env())
                built[name] = {
                    t: lakehouse.read(f"gold.{t}").filter(pl.col("ticker") == "AAPL")
                    for t in ("income_statement", "balance_sheet")
                }
    return built


def _quarter(income: pl.DataFrame, accession: str) -> dict:
    """The fiscal quarter the 10-Q first reported (values as first reported: the 10-Q's own numbers)."""
    year, period = FISCAL[accession]
    rows = income.filter(
        (pl.col("fiscal_year") == year) & (pl.col("fiscal_period") == period) & (pl.col("period_type") == "Q")
    )
    shown = income.select("fiscal_year", "fiscal_period", "period_type", "period_end", "accession_number", "revenue")
    assert rows.height == 1, shown.sort("period_end")
    return rows.row(0, named=True)


@pytest.mark.parametrize("accession", [Q3_2009, Q2_2010])
def test_both_golds_show_apples_10q_values_as_filed(golds, accession: str) -> None:
    for source, tables in golds.items():
        row = _quarter(tables["income_statement"], accession)
        assert row["accession_number"] == accession, (source, row)
        for line, value in EXPECTED[accession].items():
            assert row[line] == value, (source, accession, line)


def test_a_quarter_after_an_unknown_one_starts_where_its_reported_three_months_start(golds) -> None:
    """No period closes the previous quarter, so the quarter's start is the company's own three-month period."""
    fsds = golds["fsds"]["income_statement"]
    # FSDS: FY2010 Q1 is in no loaded filing; 10-Q 0001193125-10-088957 reports the three months as ddate
    # 20100331, qtrs 1, i.e. 2010-01-01..2010-03-31 on FSDS's month grain
    assert fsds.filter(fiscal_year=2010, fiscal_period="Q1").is_empty()
    q2 = _quarter(fsds, Q2_2010)
    assert (q2["period_start"], q2["period_end"]) == (date(2010, 1, 1), date(2010, 3, 31))
    assert q2["revenue_derivation"] == "reported" and q2["revenue"] == 13_499_000_000
    # companyfacts: Apple's first XBRL 10-Q (0001193125-09-153165) presents FY2008 Q3 (2008-03-30..2008-06-28)
    # as its comparative, and no filing in companyfacts ends FY2008's Q2 (six months to 2008-03-29)
    facts = golds["companyfacts"]["income_statement"]
    assert facts.filter(fiscal_year=2008, fiscal_period="Q2").is_empty()
    q3 = facts.filter(fiscal_year=2008, fiscal_period="Q3", period_type="Q").row(0, named=True)
    assert (q3["period_start"], q3["period_end"]) == (date(2008, 3, 30), date(2008, 6, 28))
    assert q3["accession_number"] == Q3_2009 and q3["revenue_derivation"] == "reported"
    assert (q3["revenue"], q3["net_income"]) == (7_464_000_000, 1_072_000_000)  # the 10-Q's comparative column


def test_gold_from_fsds_agrees_with_gold_from_companyfacts_on_every_shared_line(golds) -> None:
    """Every quarter both sources first reported from the same 10-Q is the same period (on FSDS's month grain)
    with the same value on every line, or null in both (no source difference among these lines)."""
    for table, lines, values in (
        # every line of the four quarters
        ("income_statement", ("revenue", "cost_of_revenue", "gross_profit", "operating_income", "net_income"), 20),
        # the 10-Qs' balance sheets are at their own quarter ends; at the prior-year quarter ends they give
        # only cash (the cash flow statement's ending balance): 2 x 4 + 2, the rest null in both
        ("balance_sheet", ("total_assets", "total_liabilities", "stockholders_equity", "cash_and_equivalents"), 10),
    ):
        fsds = golds["fsds"][table]
        facts = golds["companyfacts"][table]
        missing = [line for line in lines if line not in fsds.columns or line not in facts.columns]
        assert not missing, (table, missing)
        key = ["fiscal_year", "fiscal_period", "period_type"]
        joined = fsds.join(facts, on=key, suffix="_cf")
        # the filings both cover: rows whose primary filing is the same 10-Q in both sources
        joined = joined.filter(pl.col("accession_number") == pl.col("accession_number_cf"))
        shared = {(r["fiscal_year"], r["fiscal_period"]): r["accession_number"] for r in joined.iter_rows(named=True)}
        assert shared == SHARED_QUARTERS, (table, shared)
        compared = 0
        for row in joined.iter_rows(named=True):
            where = (table, row["accession_number"], row["fiscal_year"], row["fiscal_period"])
            exact = fsds_period(row["period_start_cf"], row["period_end_cf"])
            assert fsds_period(row["period_start"], row["period_end"]) == exact, where
            assert row["period_end"] == exact[0], where
            for line in lines:
                assert row[line] == row[f"{line}_cf"], (*where, line)
                compared += row[line] is not None
        assert compared == values, (table, compared)
    # Apple's balance sheet of 2009-06-27 (10-Q 0001193125-09-153165): total assets $48,140 million, as filed
    for source, tables in golds.items():
        sheet = tables["balance_sheet"].filter(pl.col("accession_number") == Q3_2009).sort("period_end")
        assert sheet.get_column("total_assets").to_list()[-1] == 48_140_000_000, source
