"""Write models/gold/_gold__statements.yml: the docs and tests of the three wide Gold statements.

The wide tables carry six or seven columns per line item, so their YAML is generated from the two files
that define them, seeds/line_items.csv (descriptions) and macros/statements.sql (the layout), and the
docs cannot drift from the models. Run after changing either:

    python dbt_project/scripts/generate_statement_docs.py
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
OUTPUT = PROJECT / "models" / "gold" / "_gold__statements.yml"

TITLES = {
    "income_statement": "Standardized income statement",
    "balance_sheet": "Standardized balance sheet",
    "cash_flow": "Standardized cash flow statement",
}
EXTRA = {
    "income_statement": (
        " Quarterly rows include the derived fourth quarter ('FY - 9M'); per-share values are never"
        " subtracted: a quarter's EPS is reported, or net income / weighted shares of the same quarter,"
        " or null with the reason in `eps_*_derivation`."
    ),
    "balance_sheet": " Values are instants at `period_end`; the Q4 row repeats the fiscal-year-end balance sheet.",
    "cash_flow": (
        " Companies report cash flows year-to-date: Q2, Q3 and Q4 are derived ('H1 - Q1', '9M - H1',"
        " 'FY - 9M') from operands of the same concept, fiscal year and start date, or null with the"
        " reason; a year-to-date value is never shown as a quarter."
    ),
}
KEY_COLUMNS = [
    ("ticker", "col_ticker", ["not_null"]),
    ("cik", "col_cik", ["not_null"]),
    ("fiscal_year", "col_fiscal_year", ["not_null"]),
    ("fiscal_period", "col_fiscal_period", ["not_null", "accepted_values: {values: ['FY', 'Q1', 'Q2', 'Q3', 'Q4']}"]),
    ("period_type", "col_period_type", ["not_null", "accepted_values: {values: ['FY', 'Q']}"]),
    ("period_start", "col_period_start", []),
    ("period_end", "col_period_end", ["not_null"]),
    ("currency", "col_currency", []),
    ("filed_at", "col_filed_at", ["not_null"]),
    ("accession_number", "col_accession_number", ["not_null"]),
    ("latest_filed_at", "col_latest_filed_at", []),
    ("is_restated", "col_is_restated", ["not_null"]),
]


def layout(macro: str, statement: str) -> list[str]:
    match = re.search(rf"'{statement}': \[(.*?)\]", macro, re.S)
    assert match, f"{statement} is not in macros/statements.sql"
    return re.findall(r"'(\w+)'", match.group(1))


def flow_items(macro: str) -> list[str]:
    match = re.search(r"flow_line_items\(\) -%\}\s*\{\{- return\(\[(.*?)\]", macro, re.S)
    assert match, "flow_line_items() is not in macros/statements.sql"
    return re.findall(r"'(\w+)'", match.group(1))


def model_yaml(statement: str, items: list[str], flows: list[str], descriptions: dict[str, str]) -> str:
    lines = [
        f"  - name: {statement}",
        "    description: >",
        f"      {TITLES[statement]} from SEC XBRL company facts (10-K, 10-Q, 20-F, 40-F, 6-K and amendments),",
        f"      us-gaap or ifrs-full. {{{{ doc('statement_row_grain') }}}}{EXTRA[statement]}",
        "      Lineage of every value: `<item>_concept`, `<item>_derivation`, `<item>_filed`, `<item>_accessions`",
        "      (the long form with both first and latest lineage is gold.statement_lines).",
        "    data_tests:",
        "      - unique_combination:",
        "          arguments:",
        "            combination: [ticker, period_type, period_end]",
        "    columns:",
    ]
    for name, doc, tests in KEY_COLUMNS:
        lines += [f"      - name: {name}", f"        description: \"{{{{ doc('{doc}') }}}}\""]
        if tests:
            lines.append("        data_tests:")
            for test in tests:
                if ": " in test:
                    test_name, arguments = test.split(": ", 1)
                    lines += [f"          - {test_name}:", f"              arguments: {arguments}"]
                else:
                    lines.append(f"          - {test}")
    for item in items:
        text = descriptions[item].replace('"', "'")
        columns = [
            (item, f"{text}. {{{{ doc('col_item_value') }}}}"),
            (f"{item}_latest", f"{text}. {{{{ doc('col_item_latest') }}}}"),
            (f"{item}_concept", "{{ doc('col_item_concept') }}"),
            (f"{item}_derivation", "{{ doc('col_item_derivation') }}"),
            (f"{item}_filed", "{{ doc('col_item_filed') }}"),
            (f"{item}_accessions", "{{ doc('col_item_accessions') }}"),
        ]
        if item in flows:
            columns.append((f"{item}_ttm", f"{text}, trailing twelve months. {{{{ doc('col_item_ttm') }}}}"))
        for name, description in columns:
            lines += [f"      - name: {name}", f'        description: "{description}"']
    return "\n".join(lines)


def main() -> None:
    with open(PROJECT / "seeds" / "line_items.csv", newline="") as handle:
        descriptions = {row["line_item"]: row["description"] for row in csv.DictReader(handle)}
    macro = (PROJECT / "macros" / "statements.sql").read_text()
    flows = flow_items(macro)
    models = [model_yaml(s, layout(macro, s), flows, descriptions) for s in TITLES]
    header = (
        "# Generated by dbt_project/scripts/generate_statement_docs.py from seeds/line_items.csv and\n"
        "# macros/statements.sql: edit those, then regenerate.\n"
    )
    OUTPUT.write_text(header + "version: 2\n\nmodels:\n" + "\n\n".join(models) + "\n")


if __name__ == "__main__":
    main()
