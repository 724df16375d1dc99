"""Gold statements against the filings' own numbers (recorded companyfacts payloads and stated values).

Expected values come from the raw payloads in ../shared/replay or from the 10-K figures quoted in the
issue, never from the models' output.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from gold_fixtures import *  # noqa: F403
from gold_fixtures import GoldLakehouse, raw_company_facts

pytestmark = pytest.mark.slow

AAPL, MSFT, SNOW, TSM = "0000320193", "0000789019", "0001640147", "0001046179"


def _facts(doc: dict, concept: str, unit: str = "USD", taxonomy: str = "us-gaap") -> pl.DataFrame:
    rows = doc["facts"][taxonomy][concept]["units"][unit]
    frame = pl.DataFrame(rows, infer_schema_length=None)
    if "start" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("start"))
    return frame.with_columns(
        pl.col("start").str.to_date(strict=False), pl.col("end").str.to_date(), pl.col("filed").str.to_date()
    )


def _one(frame: pl.DataFrame, **where: object) -> dict:
    rows = frame.filter(**where) if where else frame
    assert rows.height == 1, f"expected one row for {where}, got {rows.height}"
    return rows.row(0, named=True)


def _row(lake: GoldLakehouse, table: str, ticker: str, period_type: str, period_end: date) -> dict:
    frame = lake.read(f"gold.{table}").filter(ticker=ticker, period_type=period_type, period_end=period_end)
    return _one(frame)


# ---- the 10-K figures ------------------------------------------------------------------------------


def test_aapl_fiscal_2023_matches_the_10k(gold_lakehouse: GoldLakehouse) -> None:
    income = _row(gold_lakehouse, "income_statement", "AAPL", "FY", date(2023, 9, 30))
    assert income["fiscal_year"] == 2023 and income["fiscal_period"] == "FY"
    assert income["period_start"] == date(2022, 9, 25)
    assert income["revenue"] == 383_285_000_000
    assert income["net_income"] == 96_995_000_000
    assert income["eps_diluted"] == pytest.approx(6.13)
    assert income["currency"] == "USD"
    # point in time: the 10-K for fiscal 2023, filed 2023-11-03
    assert income["filed_at"] == date(2023, 11, 3)
    assert income["accession_number"] == "0000320193-23-000106"
    assert income["revenue_accessions"] == ["0000320193-23-000106"]
    balance = _row(gold_lakehouse, "balance_sheet", "AAPL", "FY", date(2023, 9, 30))
    assert balance["total_assets"] == 352_583_000_000


def test_msft_fiscal_2023_matches_the_10k(gold_lakehouse: GoldLakehouse) -> None:
    income = _row(gold_lakehouse, "income_statement", "MSFT", "FY", date(2023, 6, 30))
    assert income["fiscal_year"] == 2023
    assert income["revenue"] == 211_915_000_000
    assert income["net_income"] == 72_361_000_000
    assert income["operating_income"] == 88_523_000_000
    balance = _row(gold_lakehouse, "balance_sheet", "MSFT", "FY", date(2023, 6, 30))
    assert balance["stockholders_equity"] == 206_223_000_000


# ---- derived quarters -------------------------------------------------------------------------------


def test_aapl_derived_fourth_quarter_is_fiscal_year_minus_the_three_reported_quarters(
    gold_lakehouse: GoldLakehouse,
) -> None:
    revenue = _facts(raw_company_facts(AAPL), "RevenueFromContractWithCustomerExcludingAssessedTax")
    fiscal_year = _one(
        revenue.filter(pl.col("form") == "10-K", pl.col("end") == date(2023, 9, 30)).unique(["start", "end", "val"])
    )
    quarters = (
        revenue.filter(
            pl.col("form") == "10-Q",
            pl.col("start") >= fiscal_year["start"],
            pl.col("end") < fiscal_year["end"],
            ((pl.col("end") - pl.col("start")).dt.total_days() + 1).is_between(80, 100),
        )
        .unique(["start", "end", "val"])
        .sort("end")
    )
    assert quarters.height == 3, quarters
    expected_q4 = fiscal_year["val"] - quarters.get_column("val").sum()

    q4 = _row(gold_lakehouse, "income_statement", "AAPL", "Q", date(2023, 9, 30))
    assert q4["fiscal_period"] == "Q4" and q4["fiscal_year"] == 2023
    assert q4["period_start"] == quarters.get_column("end").max() + (date(2000, 1, 2) - date(2000, 1, 1))
    assert q4["revenue"] == expected_q4
    assert q4["revenue_derivation"] == "FY - 9M"
    # lineage: both operands' filings (the fiscal-year 10-K and the Q3 10-Q), stamped with the 10-K's date
    nine_months = _one(
        revenue.filter(pl.col("start") == fiscal_year["start"], pl.col("end") == quarters.get_column("end").max())
        .sort("filed")
        .head(1)
    )
    assert set(q4["revenue_accessions"]) == {fiscal_year["accn"], nine_months["accn"]}
    assert q4["revenue_filed"] == fiscal_year["filed"] == q4["filed_at"]


def test_snow_cash_flow_quarters_are_derived_from_year_to_date_values(gold_lakehouse: GoldLakehouse) -> None:
    ocf = _facts(raw_company_facts(SNOW), "NetCashProvidedByUsedInOperatingActivities")
    nine = ocf.filter(pl.col("end") == date(2021, 10, 31), pl.col("start") == date(2021, 2, 1))
    six = ocf.filter(pl.col("end") == date(2021, 7, 31), pl.col("start") == date(2021, 2, 1))
    expected = nine.get_column("val")[0] - six.get_column("val")[0]
    assert expected == 31_281_000 - 15_743_000 == 15_538_000  # the pitfalls note's worked example

    q3 = _row(gold_lakehouse, "cash_flow", "SNOW", "Q", date(2021, 10, 31))
    assert q3["fiscal_period"] == "Q3" and q3["fiscal_year"] == 2022  # SNOW's fiscal 2022 ends 2022-01-31
    assert q3["operating_cash_flow"] == expected
    assert q3["operating_cash_flow_derivation"] == "9M - H1"
    assert len(q3["operating_cash_flow_accessions"]) == 2


def test_no_year_to_date_value_is_shown_as_a_quarter(gold_lakehouse: GoldLakehouse) -> None:
    """A quarter's 'reported' flow value is a three-month fact; a derived one subtracts same-start YTDs."""
    lines = gold_lakehouse.read("gold.statement_lines").filter(
        pl.col("period_type") == "Q", pl.col("value_kind") == "flow", pl.col("value").is_not_null()
    )
    facts = gold_lakehouse.read("silver.financial_facts")
    reported = lines.filter(pl.col("derivation") == "reported").join(
        facts.select("cik", "concept", "period_start", "period_end", "period_kind", "value_first"),
        on=["cik", "concept", "period_start", "period_end"],
        how="left",
    )
    assert reported.height > 0
    assert reported.filter(pl.col("period_kind") != "quarter").is_empty()

    # derived quarters: YTD through this quarter minus YTD through the previous one, both starting on the
    # fiscal year's first day (the FY row's start) of the SAME fiscal year
    fiscal_years = (
        gold_lakehouse.read("gold.statement_lines")
        .filter(pl.col("period_type") == "FY")
        .select("cik", "fiscal_year", pl.col("period_start").alias("fy_start"))
        .unique()
    )
    derived = lines.filter(pl.col("derivation").is_in(["H1 - Q1", "9M - H1", "FY - 9M"])).join(
        fiscal_years, on=["cik", "fiscal_year"], how="inner"
    )
    assert derived.height > 100
    ytd = facts.select(
        "cik", "concept", pl.col("period_start").alias("fy_start"), "period_end", pl.col("value_first").alias("ytd")
    )
    prev = facts.select(
        "cik",
        "concept",
        pl.col("period_start").alias("fy_start"),
        (pl.col("period_end") + pl.duration(days=1)).alias("period_start"),
        pl.col("value_first").alias("prev_ytd"),
    )
    checked = derived.join(ytd, on=["cik", "concept", "fy_start", "period_end"], how="left").join(
        prev, on=["cik", "concept", "fy_start", "period_start"], how="left"
    )
    # derived quarters whose fiscal year row exists can be recomputed from same-start operands
    recomputed = checked.filter(pl.col("ytd").is_not_null() & pl.col("prev_ytd").is_not_null())
    assert recomputed.height >= 0.9 * derived.height
    mismatch = recomputed.filter((pl.col("ytd") - pl.col("prev_ytd") - pl.col("value")).abs() > 0.5)
    assert mismatch.is_empty(), mismatch.head()


def test_missing_operand_gives_null_with_a_reason(gold_lakehouse: GoldLakehouse) -> None:
    lines = gold_lakehouse.read("gold.statement_lines")
    missing = lines.filter(pl.col("value").is_null())
    # null: why ('missing: ...'), or the later filing that first reported it (not part of this statement)
    reasons = pl.col("derivation").str.starts_with("missing: ") | pl.col("derivation").str.starts_with(
        "not in this filing: first reported "
    )
    assert missing.filter(~reasons).is_empty()
    late = missing.filter(pl.col("derivation").str.starts_with("not in this filing"))
    assert late.filter(pl.col("first_reported_filed") <= pl.col("filed_at")).is_empty()
    assert lines.filter(pl.col("value").is_not_null() & reasons).is_empty()
    no_operand = missing.filter(pl.col("derivation").str.contains("to subtract from"))
    assert no_operand.height > 10


def test_per_share_values_are_never_subtracted(gold_lakehouse: GoldLakehouse) -> None:
    income = gold_lakehouse.read("gold.income_statement").filter(pl.col("fiscal_period") == "Q4")
    assert income.height > 20
    for row in income.iter_rows(named=True):
        derivation = row["eps_diluted_derivation"] or ""
        assert derivation in ("reported", "net_income / shares_diluted") or derivation.startswith(
            ("missing: per-share values are never subtracted", "not in this filing")
        ), derivation
        if derivation == "net_income / shares_diluted":
            assert row["eps_diluted"] == pytest.approx(row["net_income"] / row["shares_diluted"])
    # AAPL reports no Q4 weighted shares: Q4 EPS is null, flagged, not FY EPS - (Q1+Q2+Q3)
    q4 = _row(gold_lakehouse, "income_statement", "AAPL", "Q", date(2023, 9, 30))
    assert q4["eps_diluted"] is None
    assert q4["eps_diluted_derivation"].startswith("missing: per-share values are never subtracted")


# ---- consistency ------------------------------------------------------------------------------------


def test_quarters_add_up_to_the_fiscal_year(gold_lakehouse: GoldLakehouse) -> None:
    lines = gold_lakehouse.read("gold.statement_lines").filter(pl.col("value_kind").is_in(["flow", "computed"]))
    quarters = (
        lines.filter(pl.col("period_type") == "Q")
        .group_by("ticker", "fiscal_year", "line_item")
        .agg(
            pl.col("value").sum().alias("quarters"),
            pl.col("value").count().alias("n"),
            pl.col("is_restated").any().alias("restated"),
        )
    )
    years = lines.filter(pl.col("period_type") == "FY").select(
        "ticker", "fiscal_year", "line_item", pl.col("value").alias("fy"), pl.col("is_restated").alias("fy_restated")
    )
    both = quarters.join(years, on=["ticker", "fiscal_year", "line_item"]).filter(
        pl.col("n") == 4, ~pl.col("restated"), ~pl.col("fy_restated"), pl.col("fy").is_not_null()
    )
    assert both.select("ticker").n_unique() >= 3 and both.height > 200
    # the companies round each of the five values to their reporting unit (at most $0.5M each)
    off = both.filter((pl.col("quarters") - pl.col("fy")).abs() > pl.max_horizontal(2.5e6, 0.005 * pl.col("fy").abs()))
    assert off.is_empty(), off
    aapl_2023 = both.filter(ticker="AAPL", fiscal_year=2023)
    assert aapl_2023.height >= 10
    assert (aapl_2023.get_column("quarters") == aapl_2023.get_column("fy")).all()


def test_ttm_is_the_sum_of_the_last_four_quarters(gold_lakehouse: GoldLakehouse) -> None:
    quarterly = (
        gold_lakehouse.read("gold.statement_lines")
        .filter(pl.col("period_type") == "Q", pl.col("line_item") == "revenue", pl.col("ticker") == "AAPL")
        .sort("period_end")
    )
    ttm = quarterly.filter(pl.col("ttm_value").is_not_null())
    assert ttm.height > 20
    values = dict(zip(quarterly.get_column("period_end"), quarterly.get_column("value"), strict=True))
    ends = quarterly.get_column("period_end").to_list()
    for row in ttm.iter_rows(named=True):
        i = ends.index(row["period_end"])
        assert row["ttm_value"] == sum(values[e] for e in ends[i - 3 : i + 1])
    # the TTM of a fourth quarter is the fiscal year
    fy = _row(gold_lakehouse, "income_statement", "AAPL", "FY", date(2023, 9, 30))
    q4 = _row(gold_lakehouse, "income_statement", "AAPL", "Q", date(2023, 9, 30))
    assert q4["revenue_ttm"] == fy["revenue"]


def test_balance_sheet_identity_holds_for_every_company_and_period(gold_lakehouse: GoldLakehouse) -> None:
    balance = gold_lakehouse.read("gold.balance_sheet").filter(
        pl.col("total_assets").is_not_null(),
        pl.col("total_liabilities").is_not_null(),
        pl.col("stockholders_equity").is_not_null(),
    )
    assert balance.select("ticker").n_unique() >= 4 and balance.height > 100
    rhs = (
        pl.col("total_liabilities")
        + pl.col("stockholders_equity")
        + pl.col("noncontrolling_interest").fill_null(0)
        + pl.col("temporary_equity").fill_null(0)
    )
    off = balance.filter((pl.col("total_assets") - rhs).abs() > 0.005 * pl.col("total_assets").abs())
    assert off.is_empty(), off.select("ticker", "period_end", "total_assets", "total_liabilities")


def test_tsm_statements_come_from_ifrs(gold_lakehouse: GoldLakehouse) -> None:
    raw = _facts(raw_company_facts(TSM), "Revenue", unit="TWD", taxonomy="ifrs-full")
    fy2023 = raw.filter(
        pl.col("form") == "20-F", pl.col("end") == date(2023, 12, 31), pl.col("start") == date(2023, 1, 1)
    )
    income = _row(gold_lakehouse, "income_statement", "TSM", "FY", date(2023, 12, 31))
    assert income["currency"] == "TWD"
    assert income["revenue"] == fy2023.sort("filed").get_column("val")[0]
    taxonomies = (
        gold_lakehouse.read("gold.statement_lines")
        .filter(pl.col("ticker") == "TSM", pl.col("taxonomy").is_not_null())
        .get_column("taxonomy")
        .unique()
        .to_list()
    )
    assert taxonomies == ["ifrs-full"]


def test_fiscal_years_come_from_the_companies_calendars(gold_lakehouse: GoldLakehouse) -> None:
    q1 = _row(gold_lakehouse, "income_statement", "AAPL", "Q", date(2022, 12, 31))
    assert (q1["fiscal_year"], q1["fiscal_period"], q1["period_start"]) == (2023, "Q1", date(2022, 9, 25))
    nvda = _row(gold_lakehouse, "income_statement", "NVDA", "FY", date(2024, 1, 28))
    assert nvda["fiscal_year"] == 2024  # NVIDIA's fiscal 2024 ends in January 2024
    # a 10-K carries comparatives of earlier years under the filing's fy: they keep their own year
    fy2022 = _row(gold_lakehouse, "income_statement", "AAPL", "FY", date(2022, 9, 24))
    assert fy2022["fiscal_year"] == 2022


# ---- point in time and lineage -----------------------------------------------------------------------


def test_every_value_names_its_filings_and_was_public_at_filed_at(gold_lakehouse: GoldLakehouse) -> None:
    for statement, items in {
        "income_statement": ["revenue", "net_income", "eps_diluted"],
        "balance_sheet": ["total_assets", "stockholders_equity"],
        "cash_flow": ["operating_cash_flow", "capex", "free_cash_flow"],
    }.items():
        table = gold_lakehouse.read(f"gold.{statement}")
        assert table.filter(pl.col("filed_at").is_null() | pl.col("accession_number").is_null()).is_empty()
        for item in items:
            with_value = table.filter(pl.col(item).is_not_null())
            assert with_value.height > 50
            assert with_value.filter(
                pl.col(f"{item}_filed").is_null() | (pl.col(f"{item}_accessions").list.len() == 0)
            ).is_empty()
            assert with_value.filter(pl.col(f"{item}_filed") > pl.col("filed_at")).is_empty()
            derived = with_value.filter(pl.col(f"{item}_derivation").is_in(["H1 - Q1", "9M - H1", "FY - 9M"]))
            assert derived.filter(pl.col(f"{item}_accessions").list.len() < 1).is_empty()


def test_restatements_keep_first_and_latest_values(gold_lakehouse: GoldLakehouse) -> None:
    signals = gold_lakehouse.read("gold.filing_signals")
    restatements = signals.filter(signal_type="restatement")
    assert restatements.height > 0
    assert restatements.filter(pl.col("value_first") == pl.col("value_latest")).is_empty()
    assert restatements.filter(pl.col("signal_date") < pl.col("filed_first")).is_empty()
    # AAPL's 4:1 split of August 2020 restated fiscal 2019 diluted EPS (11.89 as first reported)
    split = restatements.filter(ticker="AAPL", line_item="eps_diluted", period_type="FY", period_end=date(2019, 9, 28))
    row = _one(split)
    assert row["value_first"] == pytest.approx(11.89) and row["change_kind"] == "split"
    # TSM filed 6-K amendments
    assert signals.filter(ticker="TSM", signal_type="amendment").height > 0


def test_aapl_2024_11_snapshot_shows_no_spurious_restatements(
    gold_lakehouse: GoldLakehouse, snapshot_lakehouse: GoldLakehouse
) -> None:
    """What the market knew in November 2024 is history: the current payload must not rewrite it."""
    then = snapshot_lakehouse.read("gold.statement_lines").filter(ticker="AAPL")
    now = gold_lakehouse.read("gold.statement_lines").filter(ticker="AAPL")
    assert then.height > 1000
    cutoff = then.get_column("filed_latest").max()
    assert cutoff is not None and cutoff <= date(2024, 11, 30)
    keys = ["period_type", "period_end", "line_item"]
    both = then.filter(pl.col("value").is_not_null()).join(now, on=keys, suffix="_now")
    assert both.height >= 0.95 * then.filter(pl.col("value").is_not_null()).height
    # the first-reported value, its filing date and filings are the same in both payloads
    changed = both.filter(
        (pl.col("value") != pl.col("value_now"))
        | (pl.col("filed") != pl.col("filed_now"))
        | (pl.col("accessions") != pl.col("accessions_now"))
    )
    assert changed.is_empty(), changed.select(*keys, "value", "value_now", "filed", "filed_now")
    # a value restated now but not then was restated by a filing made after the snapshot
    new_restatements = both.filter(pl.col("is_restated_now") & ~pl.col("is_restated"))
    assert new_restatements.filter(pl.col("filed_latest_now") <= cutoff).is_empty()
    # what was restated then is still restated (or restated again) now
    assert both.filter(pl.col("is_restated") & ~pl.col("is_restated_now")).is_empty()


# ---- one definition of every cell (#18.4) -------------------------------------------------------------

WIDE = ("income_statement", "balance_sheet", "cash_flow")


def _wide_cells(lake: GoldLakehouse) -> pl.DataFrame:
    """Every (wide table, row, line item) cell with its seven columns, in long shape."""
    layouts = lake.read("gold.statement_lines").select("statement", "line_item").unique()
    frames = []
    for statement in WIDE:
        wide = lake.read(f"gold.{statement}")
        items = [c for c in layouts.filter(statement=statement).get_column("line_item").to_list() if c in wide.columns]
        for item in items:
            frames.append(
                wide.select(
                    "ticker",
                    "period_type",
                    "period_end",
                    "filed_at",
                    "accession_number",
                    pl.lit(item).alias("line_item"),
                    pl.col(item).alias("w_value"),
                    pl.col(f"{item}_latest").alias("w_latest"),
                    pl.col(f"{item}_concept").alias("w_concept"),
                    pl.col(f"{item}_derivation").alias("w_derivation"),
                    pl.col(f"{item}_filed").alias("w_filed"),
                    pl.col(f"{item}_accessions").alias("w_accessions"),
                    (pl.col(f"{item}_ttm") if f"{item}_ttm" in wide.columns else pl.lit(None, pl.Float64)).alias(
                        "w_ttm"
                    ),
                )
            )
    return pl.concat(frames)


def test_wide_statements_show_exactly_the_statement_lines_values(gold_lakehouse: GoldLakehouse) -> None:
    cells = _wide_cells(gold_lakehouse)
    assert cells.height > 5_000
    long = gold_lakehouse.read("gold.statement_lines")
    joined = cells.join(long, on=["ticker", "period_type", "period_end", "line_item"], how="left")
    pairs = {
        "w_value": "value",
        "w_latest": "value_latest",
        "w_concept": "concept",
        "w_derivation": "derivation",
        "w_filed": "filed",
        "w_accessions": "accessions",
        "w_ttm": "ttm_value",
        "filed_at": "filed_at_right",
        "accession_number": "accession_number_right",
    }
    for wide_column, long_column in pairs.items():
        differ = joined.filter(pl.col("cik").is_not_null() & ~pl.col(wide_column).eq_missing(pl.col(long_column)))
        assert differ.is_empty(), (
            wide_column,
            differ.select("ticker", "period_end", "line_item", wide_column, long_column),
        )
    # a wide cell without a long row shows nothing
    orphan = joined.filter(pl.col("cik").is_null())
    assert orphan.select(pl.all_horizontal(pl.col(list(pairs)[:7]).is_null())).to_series().all()
    # and every statement period with a primary filing is a wide row
    periods = (
        long.filter(pl.col("filed_at").is_not_null())
        .select("ticker", "statement", "period_type", "period_end")
        .unique()
    )
    rows = pl.concat(
        [
            gold_lakehouse.read(f"gold.{s}").select("ticker", pl.lit(s).alias("statement"), "period_type", "period_end")
            for s in WIDE
        ]
    )
    assert periods.join(rows, on=["ticker", "statement", "period_type", "period_end"], how="anti").is_empty()


def test_ttm_follows_the_documented_rule_on_every_cell(gold_lakehouse: GoldLakehouse) -> None:
    """TTM = the sum of the four consecutive fiscal quarters shown, filled exactly when all four have a value,
    one concept family, and were public on the row's filed_at (models/docs/statements.md, col_item_ttm)."""
    lines = gold_lakehouse.read("gold.statement_lines").filter(pl.col("period_type") == "Q")
    quarters = lines.with_columns(
        (pl.col("fiscal_year") * 4 + pl.col("fiscal_period").str.slice(1).cast(pl.Int64) - 1).alias("ordinal")
    )
    window = quarters.select(
        "ticker", "line_item", pl.col("ordinal").alias("o"), "value", "concept_family", pl.col("filed").alias("f")
    )
    expanded = (
        quarters.select("ticker", "line_item", "period_end", "ordinal", "ttm_value", "filed_at", "value_kind")
        .join(window, on=["ticker", "line_item"], how="inner")
        .filter((pl.col("o") <= pl.col("ordinal")) & (pl.col("o") >= pl.col("ordinal") - 3))
    )
    judged = expanded.group_by("ticker", "line_item", "period_end").agg(
        pl.col("ttm_value").first(),
        pl.col("filed_at").first(),
        pl.col("value_kind").first(),
        pl.len().alias("rows"),
        pl.col("value").count().alias("values"),
        pl.col("concept_family").n_unique().alias("families"),
        pl.col("f").max().alias("last_filed"),
        pl.col("value").sum().alias("four_quarters"),
    )
    assert judged.height > 2_500
    holds = (
        pl.col("value_kind").is_in(["flow", "computed"])
        & (pl.col("rows") == 4)
        & (pl.col("values") == 4)
        & (pl.col("families") == 1)
        & (pl.col("last_filed") <= pl.col("filed_at"))
    )
    wrong = judged.filter(
        (holds & (pl.col("ttm_value").is_null() | ((pl.col("ttm_value") - pl.col("four_quarters")).abs() > 1e-6)))
        | (~holds.fill_null(False) & pl.col("ttm_value").is_not_null())
    )
    assert wrong.is_empty(), wrong
    assert judged.filter(pl.col("ttm_value").is_not_null()).height > 1_500
    assert (
        gold_lakehouse.read("gold.statement_lines")
        .filter(pl.col("period_type") == "FY", pl.col("ttm_value").is_not_null())
        .is_empty()
    )


# ---- like with like and the new line items (#18.1, #18.2) ----------------------------------------------


def test_a_restated_value_of_the_same_concept_is_a_restatement(gold_lakehouse: GoldLakehouse) -> None:
    """AAPL's fiscal 2016 dividends: 11,965M in its 10-K of 2016-10-26, 12,150M under the same concept
    (dividends and dividend equivalents) in its 10-Ks of 2017-11-03 and 2018-11-05."""
    facts = _facts(raw_company_facts(AAPL), "PaymentsOfDividends").filter(
        pl.col("start") == date(2015, 9, 27), pl.col("end") == date(2016, 9, 24)
    )
    first = facts.sort("filed").row(0, named=True)
    latest = facts.sort("filed").row(-1, named=True)
    assert (first["accn"], first["val"]) == ("0001628280-16-020309", 11_965_000_000)
    assert (latest["accn"], latest["val"]) == ("0000320193-18-000145", 12_150_000_000)
    line = _one(
        gold_lakehouse.read("gold.statement_lines").filter(
            ticker="AAPL", line_item="dividends_paid", period_type="FY", period_end=date(2016, 9, 24)
        )
    )
    assert (line["value"], line["value_latest"]) == (first["val"], latest["val"])
    assert line["concept_latest"] == "PaymentsOfDividends" and line["is_restated"] is True
    assert line["is_concept_changed"] is False
    signal = _one(
        gold_lakehouse.read("gold.filing_signals").filter(
            ticker="AAPL", line_item="dividends_paid", period_type="FY", period_end=date(2016, 9, 24)
        )
    )
    assert signal["signal_type"] == "restatement" and signal["accession_number"] == latest["accn"]


def test_interest_expense_matches_the_10k(gold_lakehouse: GoldLakehouse) -> None:
    facts = _facts(raw_company_facts(AAPL), "InterestExpense").filter(
        pl.col("form") == "10-K", pl.col("end") == date(2023, 9, 30), pl.col("start") == date(2022, 9, 25)
    )
    first = facts.sort("filed").row(0, named=True)
    assert first["accn"] == "0000320193-23-000106"
    income = _row(gold_lakehouse, "income_statement", "AAPL", "FY", date(2023, 9, 30))
    assert income["interest_expense"] == first["val"]
    assert income["interest_expense_concept"] == "InterestExpense"
    assert income["interest_expense_accessions"] == [first["accn"]]


def test_a_company_without_a_filing_index_has_statements(gold_lakehouse: GoldLakehouse) -> None:
    """SNOW's submissions are not recorded: no filing index, yet its statements come from its facts."""
    assert gold_lakehouse.read("silver.filings").filter(cik=SNOW).is_empty()
    income = gold_lakehouse.read("gold.income_statement").filter(ticker="SNOW")
    assert income.height > 20 and income.filter(pl.col("filed_at").is_null()).is_empty()
