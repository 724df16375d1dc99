"""Write the generated docs of the Gold statements: models/gold/_gold__statements.yml and the precedence table.

The wide tables carry six or seven columns per line item, so their YAML is generated from the two files
that define them, seeds/line_items.csv (descriptions) and macros/statements.sql (the layout), and the
docs cannot drift from the models. The precedence of the candidate concepts of every line item (seed
line_item_concepts) is written as a table to models/docs/line_item_precedence.md (a dbt docs block, also
readable on its own). Run after changing any of them:

    python dbt_project/scripts/generate_statement_docs.py
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
OUTPUT = PROJECT / "models" / "gold" / "_gold__statements.yml"
PRECEDENCE = PROJECT / "models" / "docs" / "line_item_precedence.md"

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
        "      Lineage of every value: `<item>_concept`, `<item>_derivation`, `<item>_filed`, `<item>_accessions`.",
        "      A pivot of gold.statement_lines (the long form, with both first and latest lineage and the TTM",
        "      rule's reasons): every cell here is a column of one of its rows.",
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


def precedence_markdown(items: list[dict[str, str]], candidates: list[dict[str, str]]) -> str:
    """One table per line item: its candidate concepts in precedence order, their family and note."""
    lines = [
        "{% docs line_item_precedence %}",
        "<!-- Generated by dbt_project/scripts/generate_statement_docs.py from seeds/line_item_concepts.csv:",
        "     edit the seed, then regenerate. -->",
        "",
        "# Which concept supplies each line item",
        "",
        "For every period the first-reported value is the one published first under any candidate; on the",
        "same filing date the candidate listed first wins. The latest value comes from a concept of the same",
        "family as the first one (like with like); a later presentation under another family is recorded as",
        "a concept change. `A+B` is the sum of both concepts of the same period. us-gaap candidates come",
        "before ifrs-full ones (a company reports under one taxonomy).",
    ]
    for item in items:
        rows = sorted((c for c in candidates if c["line_item"] == item["line_item"]), key=lambda c: int(c["priority"]))
        if not rows:
            continue
        lines += [
            "",
            f"## {item['line_item']} ({item['statement']})",
            "",
            item["description"],
            "",
            "| # | taxonomy | concept | family | when |",
            "|---|---|---|---|---|",
        ]
        for rank, row in enumerate(rows, 1):
            note = (row.get("note") or "").replace("|", "/")
            lines.append(f"| {rank} | {row['taxonomy']} | `{row['concept']}` | {row['concept_family']} | {note} |")
    lines += ["", "{% enddocs %}", ""]
    return "\n".join(lines)


def main() -> None:
    with open(PROJECT / "seeds" / "line_items.csv", newline="") as handle:
        items = list(csv.DictReader(handle))
    descriptions = {row["line_item"]: row["description"] for row in items}
    with open(PROJECT / "seeds" / "line_item_concepts.csv", newline="") as handle:
        candidates = list(csv.DictReader(handle))
    PRECEDENCE.write_text(precedence_markdown(items, candidates))
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
