"""Audit the Gold statements of a lakehouse: empty cells, restatements, TTM rule, wide = long, derived quarters.

The figures the statements issue (#18) asks for, computed the same way on any build (older ones too: only
columns that every version of the models has are read), so a before/after comparison is one command each:

    LAKEHOUSE_HOME=/path/to/.lakehouse python dbt_project/scripts/audit_statements.py [--items revenue,capex,...]

`--items` restricts the cell counts to a set of line items (to compare builds whose layouts differ).
Reads the Iceberg tables through the project's settings (the active LAKEHOUSE_PROFILE); writes nothing.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import duckdb

PROJECT = Path(__file__).resolve().parents[1]
STATEMENTS = ("income_statement", "balance_sheet", "cash_flow")


def layout() -> tuple[dict[str, list[str]], list[str]]:
    """The wide layout and the flow items, read from macros/statements.sql (the models' own definition)."""
    macro = (PROJECT / "macros" / "statements.sql").read_text()
    items = {}
    for statement in STATEMENTS:
        match = re.search(rf"'{statement}': \[(.*?)\]", macro, re.S)
        assert match, statement
        items[statement] = re.findall(r"'(\w+)'", match.group(1))
    flows = re.search(r"flow_line_items\(\) -%\}\s*\{\{- return\(\[(.*?)\]", macro, re.S)
    assert flows
    return items, re.findall(r"'(\w+)'", flows.group(1))


def connect() -> duckdb.DuckDBPyConnection:
    from finance_assets.core.iceberg import IcebergLakehouse
    from finance_assets.core.settings import get_settings

    lakehouse = IcebergLakehouse.from_settings(get_settings())
    con = duckdb.connect()
    for name in (*STATEMENTS, "statement_lines", "filing_signals"):
        con.register(name, lakehouse.read(f"gold.{name}").to_arrow())
    return con


def audit(con: duckdb.DuckDBPyConnection, only: set[str] | None = None) -> dict:
    items, flows = layout()
    present = {s: {r[0] for r in con.execute(f"describe {s}").fetchall()} for s in STATEMENTS}
    cells: dict[str, dict[str, int]] = {}
    ttm_cells = []
    for statement, names in items.items():
        names = [n for n in names if n in present[statement] and (only is None or n in only)]
        if not names:
            continue
        filled = " + ".join(f"({n} is not null)::int" for n in names)
        total, full = con.execute(
            f"select count(*) * {len(names)}, coalesce(sum({filled}), 0) from {statement}"
        ).fetchone()
        cells[statement] = {"cells": int(total), "empty": int(total - full)}
        for n in names:
            if n in flows and f"{n}_ttm" in present[statement]:
                ttm_cells.append(
                    f"select ticker, period_end, fiscal_year, fiscal_period, '{n}' as item, {n} as v, {n}_ttm as ttm "
                    f"from {statement} where period_type = 'Q'"
                )
    result: dict = {"cells": cells}
    result["empty_cells"] = sum(c["empty"] for c in cells.values())
    result["total_cells"] = sum(c["cells"] for c in cells.values())

    # the documented TTM rule on the wide tables: filled iff the four consecutive fiscal quarters shown all
    # have a value, and then their sum
    ttm = " union all ".join(ttm_cells)
    row = con.execute(f"""
        with o as (select *, fiscal_year * 4 + cast(right(fiscal_period, 1) as integer) - 1 as ord from ({ttm})),
        w as (
            select o.*, count(p.v) as n, count(p.ord) as n_rows, sum(p.v) as s
            from o left join o as p on p.ticker = o.ticker and p.item = o.item and p.ord between o.ord - 3 and o.ord
            group by all
        )
        select count(*),
               count(*) filter (where ttm is null and n = 4 and n_rows = 4),
               count(*) filter (where ttm is not null and not (n = 4 and n_rows = 4)),
               count(*) filter (where ttm is not null and n = 4 and n_rows = 4
                                  and abs(ttm - s) > 1e-6 * greatest(1, abs(s)))
        from w
    """).fetchone()
    result["ttm"] = {
        "quarterly_cells": row[0],
        "null_although_four_quarters_shown": row[1],
        "filled_although_a_quarter_is_missing": row[2],
        "not_the_sum_of_the_quarters_shown": row[3],
    }

    # wide = long on every cell (value and TTM)
    mismatches = []
    for statement, names in items.items():
        for n in names:
            if n not in present[statement]:
                continue
            ttm = f" or w.{n}_ttm is distinct from l.ttm_value" if f"{n}_ttm" in present[statement] else ""
            mismatches.append(f"""
                select '{statement}' as statement, '{n}' as item,
                       (w.{n} is distinct from l.value) as value_differs,
                       (false{ttm}) as ttm_differs
                from {statement} as w left join statement_lines as l
                  on l.ticker = w.ticker and l.period_type = w.period_type and l.period_end = w.period_end
                 and l.line_item = '{n}'
            """)
    row = con.execute(
        f"select count(*) filter (where value_differs), count(*) filter (where ttm_differs) "
        f"from ({' union all '.join(mismatches)})"
    ).fetchone()
    result["wide_vs_long"] = {"value_cells_differ": row[0], "ttm_cells_differ": row[1]}

    # restatements
    lines = {r[0] for r in con.execute("describe statement_lines").fetchall()}
    # (older builds: `value`/`concept` are the first-reported ones; newer: `first_reported_*`, since `value`
    # is the point-in-time one)
    first, concept = (
        ("first_reported_value", "first_reported_concept") if "first_reported_value" in lines else ("value", "concept")
    )
    row = con.execute(f"""
        select count(*) filter (where is_restated),
               count(*) filter (where is_restated and abs(value_latest - {first}) > 0.001 * abs({first})),
               count(*) filter (where is_restated and abs(value_latest - {first}) > 0.001 * abs({first})
                                  and concept_latest is distinct from {concept})
        from statement_lines
    """).fetchone()
    signals = con.execute("select signal_type, count(*) from filing_signals group by 1 order by 1").fetchall()
    result["restatements"] = {
        "statement_lines_restated": row[0],
        "moved_more_than_0.1%": row[1],
        "moved_more_than_0.1%_with_another_latest_concept": row[2],
        "rows_flagged_is_restated": {
            s: con.execute(f"select count(*) filter (where is_restated) from {s}").fetchone()[0] for s in STATEMENTS
        },
        "filing_signals": dict(signals),
    }
    if "is_concept_changed" in lines:
        result["restatements"]["concept_changes"] = con.execute(
            "select count(*) from statement_lines where is_concept_changed"
        ).fetchone()[0]

    # published derived quarters of flows that cannot reverse, against their fiscal year
    row = con.execute("""
        with q as (
            select l.*, f.value as fy_value
            from statement_lines as l
            join statement_lines as f
              on f.ticker = l.ticker and f.line_item = l.line_item and f.period_type = 'FY'
             and f.fiscal_year = l.fiscal_year
            where l.period_type = 'Q' and l.derivation in ('H1 - Q1', '9M - H1', 'FY - 9M') and l.value is not null
              and l.line_item in ('revenue', 'cost_of_revenue', 'operating_expenses', 'capex', 'dividends_paid',
                                  'share_repurchases', 'interest_income', 'interest_expense', 'premiums_earned')
        )
        select count(*), count(*) filter (where sign(value) * sign(fy_value) < 0 or abs(value) > abs(fy_value))
        from q where fy_value is not null
    """).fetchone()
    result["derived_quarters"] = {"non_reversible_with_fiscal_year": row[0], "breaking_sign_or_size_rule": row[1]}
    if "sanity_failure" in lines:
        result["derived_quarters"]["rejected"] = con.execute(
            "select count(*) from statement_lines where sanity_failure is not null"
        ).fetchone()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", help="comma-separated line items to count cells for (default: every item)")
    args = parser.parse_args()
    only = set(args.items.split(",")) if args.items else None
    print(json.dumps(audit(connect(), only), indent=2, default=str))


if __name__ == "__main__":
    main()
