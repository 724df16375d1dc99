"""The statement rules of issue #18 on companies the recorded payloads do not cover, and the #13 edge cases.

One lakehouse is built for these tests (Bronze through Dagster from a replay folder, then the statement
models through the Dagster dbt asset), with:

* EOG and CVX: small companyfacts payloads built here from the SEC Financial Statement Data Sets in
  ../shared/replay (2009q3, 2010q2: the filings' own num.txt rows, read at test time, never typed in):
  EOG 10-Q 0000821189-09-000047 (filed 2009-08-06) and 10-Q/A 0000821189-10-000022 (filed 2010-05-04),
  CVX 10-Q 0000950123-09-030860 (2009-08-06) and 10-Q 0000950123-10-044204 (2010-05-05). Neither company
  has a recorded filing index (its submissions answer 404) and neither has filed an annual report in
  these files, so their fiscal years are inferred from their year-to-date periods.
* AAPL: the recorded companyfacts payload WITHOUT its first three reports of fiscal 2016 dividends under
  PaymentsOfDividends (10-K 0001628280-16-020309, 10-Qs 0001628280-17-000717 and -004790, all 11,965M),
  so the year is first public as PaymentsOfDividendsCommonStock (10-Q 0000320193-17-000009) and the 10-K
  0000320193-17-000070 then presents both: 11,965M common-stock dividends and 12,150M "dividends and
  dividend equivalents" (PaymentsOfDividends): a concept switch with a different number.
* PLTR: the recorded payload (pre-IPO redeemable preferred stock outside the standard concepts).
* TSLA: a recorded filing index but no companyfacts (404): an empty statement set.
"""

from __future__ import annotations

import calendar
import csv
import gzip
import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import dagster as dg
import polars as pl
import pytest
from gold_fixtures import REPLAY, GoldLakehouse, build_lakehouse, raw_company_facts, session_env

pytestmark = pytest.mark.slow

FSDS = REPLAY / "edgar" / "financial-statement-data-sets"
EOG_FILINGS = {"2009q3": "0000821189-09-000047", "2010q2": "0000821189-10-000022"}
CVX_FILINGS = {"2009q3": "0000950123-09-030860", "2010q2": "0000950123-10-044204"}
FSDS_TAGS = (
    "Revenues",
    "NetCashProvidedByUsedInOperatingActivities",
    "PaymentsToAcquireOilAndGasPropertyAndEquipment",
    "PaymentsToAcquireOtherPropertyPlantAndEquipment",
    "PaymentsToAcquireProductiveAssets",
)
AAPL, PLTR = "0000320193", "0001321655"
AAPL_DROPPED = {"0001628280-16-020309", "0001628280-17-000717", "0001628280-17-004790"}
UNIVERSE = ("AAPL", "PLTR", "EOG", "CVX", "TSLA")


def _months_back(end: date, months: int) -> date:
    """The first day of a period of ``months`` months ending on ``end`` (a month end)."""
    month = end.month - months + 1
    year = end.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, 1)


def fsds_rows(quarter: str, accession: str) -> tuple[dict, list[dict]]:
    """The sub.txt row and the num.txt rows (no segments, no co-registrant) of one filing in an FSDS zip."""
    with zipfile.ZipFile(FSDS / f"{quarter}.zip") as archive:
        subs = csv.DictReader(io.TextIOWrapper(archive.open("sub.txt"), "utf-8"), delimiter="\t")
        sub = next(row for row in subs if row["adsh"] == accession)
        nums = csv.DictReader(io.TextIOWrapper(archive.open("num.txt"), "utf-8"), delimiter="\t")
        rows = [r for r in nums if r["adsh"] == accession and not r["segments"] and not r["coreg"]]
    return sub, rows


def companyfacts_from_fsds(cik: int, name: str, filings: dict[str, str]) -> dict:
    """A companyfacts payload (SEC's JSON shape) holding these filings' us-gaap USD values of FSDS_TAGS."""
    facts: dict[str, dict] = {}
    for quarter, accession in filings.items():
        sub, rows = fsds_rows(quarter, accession)
        filed = sub["filed"]
        for row in rows:
            if row["tag"] not in FSDS_TAGS or row["uom"] != "USD" or not row["version"].startswith("us-gaap/"):
                continue
            end = date(int(row["ddate"][:4]), int(row["ddate"][4:6]), int(row["ddate"][6:]))
            assert end.day == calendar.monthrange(end.year, end.month)[1], row  # calendar-quarter filers
            fact = {
                "end": end.isoformat(),
                "val": float(row["value"]),
                "accn": accession,
                "fy": int(sub["fy"]),
                "fp": sub["fp"],
                "form": sub["form"],
                "filed": f"{filed[:4]}-{filed[4:6]}-{filed[6:]}",
            }
            if int(row["qtrs"]) > 0:
                fact["start"] = _months_back(end, 3 * int(row["qtrs"])).isoformat()
            concept = facts.setdefault(row["tag"], {"label": row["tag"], "units": {"USD": []}})
            concept["units"]["USD"].append(fact)
    return {"cik": cik, "entityName": name, "facts": {"us-gaap": facts}}


def aapl_without_first_fy2016_dividends() -> dict:
    doc = raw_company_facts(AAPL)
    units = doc["facts"]["us-gaap"]["PaymentsOfDividends"]["units"]
    units["USD"] = [
        f
        for f in units["USD"]
        if not (f["accn"] in AAPL_DROPPED and f.get("start") == "2015-09-27" and f["end"] == "2016-09-24")
    ]
    return doc


@pytest.fixture(scope="module")
def rules_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoldLakehouse]:
    base = tmp_path_factory.mktemp("statement-rules")
    replay = base / "replay"  # a copy: the replay transport serves nothing that resolves outside its root
    shutil.copytree(REPLAY / "edgar", replay / "edgar", ignore=shutil.ignore_patterns("snapshots"))
    folder = replay / "edgar" / "companyfacts"
    (folder / "CIK0000320193.json.gz").unlink()
    with gzip.open(folder / "CIK0000320193.json.gz", "wt") as handle:
        json.dump(aapl_without_first_fy2016_dividends(), handle)
    (folder / "CIK0000821189.json").write_text(
        json.dumps(companyfacts_from_fsds(821189, "EOG RESOURCES INC", EOG_FILINGS))
    )
    (folder / "CIK0000093410.json").write_text(json.dumps(companyfacts_from_fsds(93410, "CHEVRON CORP", CVX_FILINGS)))
    home = base / "lakehouse"
    env = {
        "LAKEHOUSE_HOME": str(home),
        "REPLAY_DIR": str(replay),
        "DAGSTER_HOME": str(home / "dagster"),
        "UNIVERSE": ",".join(UNIVERSE),
    }
    with contextmanager(session_env)(env):
        yield build_lakehouse(home, replay, UNIVERSE, with_markets=False)


def _line(lake: GoldLakehouse, ticker: str, item: str, period_type: str, period_end: date) -> dict:
    rows = lake.read("gold.statement_lines").filter(
        ticker=ticker, line_item=item, period_type=period_type, period_end=period_end
    )
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def _fsds_value(quarter: str, accession: str, tag: str, ddate: str, qtrs: int) -> float:
    _, rows = fsds_rows(quarter, accession)
    (row,) = [r for r in rows if r["tag"] == tag and r["ddate"] == ddate and int(r["qtrs"]) == qtrs]
    return float(row["value"])


# ---- the build itself ---------------------------------------------------------------------------------


def test_the_build_succeeds_with_odd_companies(rules_lakehouse: GoldLakehouse) -> None:
    """No filing index (EOG, CVX), no facts (TSLA), no annual report (EOG, CVX): dbt still builds."""
    result = rules_lakehouse.runs["dbt"]
    assert result.success
    blocking = [e for e in result.get_asset_check_evaluations() if not e.passed and e.severity.value == "ERROR"]
    assert not blocking, [(e.asset_key.to_user_string(), e.check_name) for e in blocking]


# ---- #18.1: extractive capex --------------------------------------------------------------------------


def test_extractive_capex_sums_oil_and_gas_property_and_other_ppe(rules_lakehouse: GoldLakehouse) -> None:
    accession = EOG_FILINGS["2010q2"]
    oil_and_gas = _fsds_value("2010q2", accession, "PaymentsToAcquireOilAndGasPropertyAndEquipment", "20100331", 1)
    other = _fsds_value("2010q2", accession, "PaymentsToAcquireOtherPropertyPlantAndEquipment", "20100331", 1)
    assert (oil_and_gas, other) == (1_063_390_000, 61_483_000)  # EOG's first quarter of 2010

    capex = _line(rules_lakehouse, "EOG", "capex", "Q", date(2010, 3, 31))
    assert capex["value"] == oil_and_gas + other
    assert (
        capex["concept"]
        == "PaymentsToAcquireOilAndGasPropertyAndEquipment+PaymentsToAcquireOtherPropertyPlantAndEquipment"
    )
    assert capex["derivation"] == "reported"
    assert capex["accessions"] == [accession]
    assert (capex["fiscal_year"], capex["fiscal_period"]) == (2010, "Q1")
    cash = rules_lakehouse.read("gold.cash_flow").filter(ticker="EOG", period_type="Q", period_end=date(2010, 3, 31))
    row = cash.row(0, named=True)
    ocf = _fsds_value("2010q2", accession, "NetCashProvidedByUsedInOperatingActivities", "20100331", 1)
    assert row["capex"] == oil_and_gas + other
    assert row["free_cash_flow"] == ocf - (oil_and_gas + other)


def test_chevron_capex_of_a_derived_quarter_is_knowable_when_its_later_operand_was_filed(
    rules_lakehouse: GoldLakehouse,
) -> None:
    """Q2 2009 = H1 (10-Q of 2009-08-06) - Q1 (first in this payload as a comparative of 2010-05-05)."""
    h1 = _fsds_value("2009q3", CVX_FILINGS["2009q3"], "PaymentsToAcquireProductiveAssets", "20090630", 2)
    q1 = _fsds_value("2010q2", CVX_FILINGS["2010q2"], "PaymentsToAcquireProductiveAssets", "20090331", 1)
    q2 = _line(rules_lakehouse, "CVX", "capex", "Q", date(2009, 6, 30))
    assert q2["value"] == h1 - q1 == 10_414_000_000 - 5_984_000_000
    assert q2["derivation"] == "H1 - Q1"
    assert q2["filed"] == date(2010, 5, 5)
    assert q2["source_accession"] == CVX_FILINGS["2010q2"]
    assert q2["accessions"] == sorted(CVX_FILINGS.values())


# ---- #18.3: derived quarters pass sanity rules ------------------------------------------------------


def test_a_derived_quarter_larger_than_its_year_to_date_is_rejected(rules_lakehouse: GoldLakehouse) -> None:
    """EOG's 10-Q of 2009-08-06 tagged its six-month capex with a minus sign; its 2010 10-Q/A tagged the
    first quarter of 2009 positive. H1 - Q1 would publish a quarter of -2.47 billion."""
    h1_parts = [
        _fsds_value("2009q3", EOG_FILINGS["2009q3"], tag, "20090630", 2)
        for tag in ("PaymentsToAcquireOilAndGasPropertyAndEquipment", "PaymentsToAcquireOtherPropertyPlantAndEquipment")
    ]
    q1_parts = [
        _fsds_value("2010q2", EOG_FILINGS["2010q2"], tag, "20090331", 1)
        for tag in ("PaymentsToAcquireOilAndGasPropertyAndEquipment", "PaymentsToAcquireOtherPropertyPlantAndEquipment")
    ]
    assert sum(h1_parts) < 0 < sum(q1_parts)
    line = _line(rules_lakehouse, "EOG", "capex", "Q", date(2009, 6, 30))
    assert line["value"] is None
    assert line["derivation"].startswith("missing: derived value rejected: H1 - Q1 = ")
    assert f"{sum(h1_parts) - sum(q1_parts):,.0f}" in line["sanity_failure"]
    assert "larger than its year-to-date value" in line["sanity_failure"]
    # never published: not in the wide statement either, and the warn-severity check names it
    cash = rules_lakehouse.read("gold.cash_flow").filter(ticker="EOG", period_type="Q", period_end=date(2009, 6, 30))
    assert cash.get_column("capex").to_list() == [None]
    warned = [
        e
        for e in rules_lakehouse.runs["dbt"].get_asset_check_evaluations()
        if e.check_name == "assert_derived_quarters_pass_sanity_rules"
    ]
    assert len(warned) == 1 and not warned[0].passed and warned[0].severity == dg.AssetCheckSeverity.WARN


def test_published_derived_quarters_of_non_reversible_flows_keep_their_sign(rules_lakehouse: GoldLakehouse) -> None:
    lines = rules_lakehouse.read("gold.statement_lines")
    derived = lines.filter(
        pl.col("derivation").is_in(["H1 - Q1", "9M - H1", "FY - 9M"]),
        pl.col("line_item").is_in(["revenue", "cost_of_revenue", "capex", "dividends_paid", "share_repurchases"]),
    )
    assert derived.height > 10
    fiscal_years = lines.filter(period_type="FY").select(
        "ticker", "line_item", "fiscal_year", pl.col("first_reported_value").alias("fy_value")
    )
    checked = derived.join(fiscal_years, on=["ticker", "line_item", "fiscal_year"], how="left")
    broken = checked.filter(
        (pl.col("value") < 0) | (pl.col("fy_value").is_not_null() & (pl.col("value").abs() > pl.col("fy_value").abs()))
    )
    assert broken.is_empty(), broken.select("ticker", "line_item", "period_end", "value", "fy_value")


# ---- #18.2: like with like ----------------------------------------------------------------------------


def test_a_concept_switch_is_a_concept_change_not_a_restatement(rules_lakehouse: GoldLakehouse) -> None:
    doc = raw_company_facts(AAPL)
    common = {
        f["accn"]: f["val"]
        for f in doc["facts"]["us-gaap"]["PaymentsOfDividendsCommonStock"]["units"]["USD"]
        if f.get("start") == "2015-09-27" and f["end"] == "2016-09-24"
    }
    with_equivalents = {
        f["accn"]: f["val"]
        for f in doc["facts"]["us-gaap"]["PaymentsOfDividends"]["units"]["USD"]
        if f.get("start") == "2015-09-27" and f["end"] == "2016-09-24"
    }
    assert common["0000320193-17-000009"] == 11_965_000_000
    assert with_equivalents["0000320193-17-000070"] == 12_150_000_000
    assert with_equivalents["0000320193-18-000145"] == 12_150_000_000  # the 10-K of 2018-11-05, its last report

    line = _line(rules_lakehouse, "AAPL", "dividends_paid", "FY", date(2016, 9, 24))
    assert line["first_reported_concept"] == "PaymentsOfDividendsCommonStock"
    assert line["first_reported_value"] == common["0000320193-17-000009"]
    assert line["first_reported_accession"] == "0000320193-17-000009"
    # the latest value is the same line's (common-stock dividends), not the other line's 12,150M
    assert line["value_latest"] == common["0000320193-17-000070"] == 11_965_000_000
    assert line["concept_latest"] == "PaymentsOfDividendsCommonStock"
    assert line["is_restated"] is False
    assert line["is_concept_changed"] is True
    assert line["changed_concept"] == "PaymentsOfDividends"
    assert line["changed_concept_value"] == with_equivalents["0000320193-18-000145"]
    assert line["changed_concept_accession"] == "0000320193-18-000145"
    signals = rules_lakehouse.read("gold.filing_signals").filter(
        ticker="AAPL", line_item="dividends_paid", period_type="FY", period_end=date(2016, 9, 24)
    )
    assert signals.get_column("signal_type").to_list() == ["concept_change"]
    assert signals.row(0, named=True)["new_concept"] == "PaymentsOfDividends"


# ---- #18.5: the filing that made a derived value knowable ---------------------------------------------


def test_a_derived_fourth_quarter_is_dated_by_the_10k_that_completed_the_year(rules_lakehouse: GoldLakehouse) -> None:
    """PLTR tagged its first nine months of 2020 'including assessed tax' in its first 10-Q and the year
    'excluding' in its 10-K: the same numbers, one concept family. Q4 2020 was knowable from the 10-K,
    not from the 10-Q of 2021-11-09 that repeated the nine months under the other concept."""
    doc = raw_company_facts(PLTR)
    gaap = doc["facts"]["us-gaap"]
    fy = [
        f
        for f in gaap["RevenueFromContractWithCustomerExcludingAssessedTax"]["units"]["USD"]
        if f.get("start") == "2020-01-01" and f["end"] == "2020-12-31" and f["form"] == "10-K"
    ]
    nine = [
        f
        for f in gaap["RevenueFromContractWithCustomerIncludingAssessedTax"]["units"]["USD"]
        if f.get("start") == "2020-01-01" and f["end"] == "2020-09-30"
    ]
    first_fy = min(fy, key=lambda f: f["filed"])
    (first_nine,) = nine
    assert first_fy["accn"] == "0001193125-21-060650" and first_fy["filed"] == "2021-02-26"
    assert first_nine["accn"] == "0001193125-20-292177" and first_nine["filed"] == "2020-11-13"

    q4 = _line(rules_lakehouse, "PLTR", "revenue", "Q", date(2020, 12, 31))
    assert q4["value"] == first_fy["val"] - first_nine["val"]
    assert q4["derivation"] == "FY - 9M"
    assert q4["filed"] == date(2021, 2, 26) == q4["filed_at"]
    assert q4["source_accession"] == "0001193125-21-060650"
    assert q4["accessions"] == ["0001193125-20-292177", "0001193125-21-060650"]


# ---- #13: balance identity, filing index optional -----------------------------------------------------


def test_an_untagged_equity_component_is_the_residual_temporary_equity(rules_lakehouse: GoldLakehouse) -> None:
    """PLTR at 2019-12-31 (10-Q 0001193125-20-292177): its redeemable convertible preferred stock is
    tagged with a company concept; L&E - liabilities - equity names it, so the identity holds."""
    gaap = raw_company_facts(PLTR)["facts"]["us-gaap"]

    def first(concept: str) -> float:
        rows = [f for f in gaap[concept]["units"]["USD"] if f["end"] == "2019-12-31" and "start" not in f]
        return min(rows, key=lambda f: f["filed"])["val"]

    residual = first("LiabilitiesAndStockholdersEquity") - first("Liabilities") - first("StockholdersEquity")
    assert residual > 2e9
    balance = rules_lakehouse.read("gold.balance_sheet").filter(ticker="PLTR", period_end=date(2019, 12, 31))
    assert balance.height == 2  # FY and Q4
    for row in balance.iter_rows(named=True):
        assert row["temporary_equity"] == residual
        assert row["temporary_equity_derivation"].startswith("liabilities_and_equity - total_liabilities - equity")
        assert row["temporary_equity_concept"] is None
        assert row["total_assets"] == pytest.approx(
            row["total_liabilities"] + row["stockholders_equity"] + row["temporary_equity"]
        )


def test_a_company_without_a_filing_index_gets_statements_from_its_facts(rules_lakehouse: GoldLakehouse) -> None:
    filings = rules_lakehouse.read("silver.filings")
    assert filings.filter(pl.col("cik").is_in(["0000821189", "0000093410"])).is_empty()
    income = rules_lakehouse.read("gold.income_statement").filter(ticker="EOG")
    q1 = income.filter(period_type="Q", period_end=date(2010, 3, 31)).row(0, named=True)
    assert q1["revenue"] == _fsds_value("2010q2", EOG_FILINGS["2010q2"], "Revenues", "20100331", 1)
    assert q1["filed_at"] == date(2010, 5, 4) and q1["accession_number"] == EOG_FILINGS["2010q2"]


def test_a_company_without_facts_gets_an_empty_statement_set(rules_lakehouse: GoldLakehouse) -> None:
    filings = rules_lakehouse.read("silver.filings").filter(cik="0001318605")
    assert filings.height > 100  # TSLA's filing index landed
    for table in ("statement_lines", "income_statement", "balance_sheet", "cash_flow"):
        assert rules_lakehouse.read(f"gold.{table}").filter(ticker="TSLA").is_empty(), table


def test_fiscal_years_are_inferred_for_a_filer_without_an_annual_report(rules_lakehouse: GoldLakehouse) -> None:
    """EOG's H1 2009 and H1 2008 start on January 1: its fiscal years; no FY row without an annual value."""
    eog = rules_lakehouse.read("gold.statement_lines").filter(ticker="EOG")
    assert eog.filter(period_type="FY").is_empty()
    q2 = _line(rules_lakehouse, "EOG", "revenue", "Q", date(2009, 6, 30))
    assert (q2["fiscal_year"], q2["fiscal_period"], q2["period_start"]) == (2009, "Q2", date(2009, 4, 1))
    assert q2["value"] == _fsds_value("2009q3", EOG_FILINGS["2009q3"], "Revenues", "20090630", 1)
    assert q2["derivation"] == "reported" and q2["filed"] == date(2009, 8, 6)
