"""Build ``seeds/company_sic.csv``: CIK -> SIC code (and today's ticker, where SEC's ticker map has one) for
the 5,762 filers of the SEC Financial Statement Data Sets' 2021q1 ``sub.txt``.

Why a seed: the recorded replay has no filing index for most S&P 500 members, and the sector of a company
barely changes; the live path reads ``sic`` from each company's filing index (silver.companies), and
gold.company_sectors prefers it. Re-run when the reference quarter changes:

    python dbt_project/scripts/build_company_sic_seed.py ../shared/replay
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from pathlib import Path

SUB = "edgar/financial-statement-data-sets/2021q1_sub.converted.tsv.gz"
TICKERS = "edgar/company_tickers.json"


def main(replay: Path, out: Path) -> int:
    tickers: dict[int, str] = {}
    for entry in json.loads((replay / TICKERS).read_text()).values():
        tickers.setdefault(int(entry["cik_str"]), entry["ticker"].upper())  # the first listed: the main line
    rows: dict[int, tuple[str]] = {}
    with gzip.open(replay / SUB, "rt", encoding="utf-8") as handle:
        for record in csv.DictReader(handle, delimiter="\t"):
            if not record["sic"]:
                continue
            cik = int(float(record["cik"]))  # the parquet conversion wrote integers as floats
            rows[cik] = (str(int(float(record["sic"]))).zfill(4),)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["cik", "ticker", "sic"])
        for cik in sorted(rows):
            writer.writerow([str(cik).zfill(10), tickers.get(cik, ""), rows[cik][0]])
    print(f"{out}: {len(rows)} filers, {sum(c in tickers for c in rows)} with a ticker")
    return 0


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    replay = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent.parent / "shared" / "replay"
    sys.exit(main(replay, root / "seeds" / "company_sic.csv"))
