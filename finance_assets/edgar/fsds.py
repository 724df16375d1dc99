"""SEC Financial Statement Data Sets (FSDS): a whole quarter of XBRL filings in the Bronze facts model.

A quarter (``https://www.sec.gov/files/dera/data/financial-statement-data-sets/<YYYY>q<N>.zip``) holds
``sub.txt`` (one row per submission: ``adsh`` = accession number, cik, name, form, fy, fp, filed, ...),
``num.txt`` (one row per numeric fact of the primary statements), ``tag.txt`` (tag labels and data
types) and ``pre.txt``. :func:`read_quarter` reads them **streaming from the zip** (nothing unpacked to
disk; ``num.txt`` in blocks) into :data:`FSDS_FACTS_SCHEMA`: the columns of ``bronze.edgar_company_facts``
(:data:`~finance_assets.edgar.parse.COMPANY_FACTS_SCHEMA`), in its order, plus two that say how the period
was obtained. One ``adsh`` is one filing (``accn``); ``form``/``filed``/``fy``/``fp`` come from ``sub.txt``.

Rows kept, and why the others are dropped (counted in :attr:`FsdsQuarter.dropped`):

* **consolidated only**: a row with ``segments`` (an axis/member breakdown) or ``coreg`` (a co-registrant,
  e.g. a subsidiary guarantor) is not the filer's consolidated value; companyfacts carries only the
  consolidated, undimensioned facts, so FSDS's dimensioned rows have no counterpart to agree with;
* **standard taxonomies only**: ``version`` ``us-gaap/2009``, ``ifrs/2010``, ``dei/2009``, ``srt/...``;
  the taxonomy is the part before ``/`` (``ifrs`` is written ``ifrs-full``, as companyfacts names it).
  Company extension tags (``version`` = the filing's own accession) are **dropped**: companyfacts does
  not carry them either, and no line-item mapping can use a tag that only one filer defines;
* rows without a value.

Units: FSDS writes a per-share value's unit as the currency (``USD``); ``tag.txt`` says its data type is
``perShare``, and companyfacts writes ``USD/shares``: such units become ``<currency>/shares``.

**Periods are approximate, and marked so.** FSDS gives ``ddate``, the period end *rounded to the nearest
month end*, and ``qtrs``, the duration in quarters *rounded to a whole number* (0: an instant). There is no
start date. ``end_date`` is ``ddate``; for durations ``start_date`` is **derived** as the first day of the
month ``3 * qtrs`` months before the end's month end (``ddate`` 2009-06-30, ``qtrs`` 1 -> 2009-04-01).
``qtrs`` is kept and ``dates_derived`` is true on every FSDS row. Gold identifies a period by its exact
start/end (``silver.financial_facts`` keys on them), and companyfacts has the exact dates: Apple's quarter
of 10-Q 0001193125-09-153165 is 2009-03-29..2009-06-27 there and ``ddate`` 20090630, ``qtrs`` 1 here. So
the same fact from the two sources does **not** share a period key; compare them on the FSDS grain
instead, :func:`fsds_period` applied to companyfacts' exact dates (nearest month end, rounded quarters),
with the accession, taxonomy, concept and unit. Where both sources cover a filing, companyfacts' exact
dates should win; FSDS-only facts keep month-end periods (for most filers, whose quarters end on a
month end, they are exact anyway).

Companies: FSDS identifies them by CIK only; many have no ticker in today's ticker map. ``companies``
(CIK -> company key) selects and keys them; without it every filer is included and keyed by its 10-digit
CIK (the ``ticker`` column holds the company key, as in the per-company path).
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from finance_assets.edgar.bulk import BulkCompany
from finance_assets.edgar.parse import COMPANY_FACTS_SCHEMA, FILINGS_SCHEMA, normalize_cik, parse_filings

FSDS_URL = "https://www.sec.gov/files/dera/data/financial-statement-data-sets/{quarter}.zip"
FSDS_FACTS_SCHEMA = COMPANY_FACTS_SCHEMA.append(pa.field("qtrs", pa.int32())).append(
    pa.field("dates_derived", pa.bool_())
)
#: FSDS taxonomy prefix -> the taxonomy name companyfacts uses
TAXONOMIES = {"ifrs": "ifrs-full"}
_BLOCK = 8 << 20  # num.txt is parsed in blocks of this many bytes
_PARSE = pacsv.ParseOptions(delimiter="\t", quote_char=False, double_quote=False, escape_char=False)


class FsdsError(ValueError):
    """The quarter's zip is not a usable Financial Statement Data Set; names the file, member and fix."""


@dataclass
class FsdsQuarter:
    """A quarter read from its zip: the kept facts (grouped per company on demand) and what was dropped."""

    path: str
    payload_sha256: str
    facts: pa.Table  # FSDS_FACTS_SCHEMA, every kept row of the quarter
    submissions: pa.Table  # sub.txt as read (strings), one row per adsh
    rows_read: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def ciks_without_facts(self) -> list[str]:
        """Filers of the quarter none of whose facts were kept (e.g. every value dimensioned, or 8-K only).

        Early XBRL filers sometimes tagged even their consolidated totals with a member (Berkshire
        Hathaway's 2009 10-Q: ``BusinessSegments=SegmentConsolidated``); those are dropped like any
        dimensioned value, as companyfacts does not carry them either.
        """
        filed = {normalize_cik(c) for c in self.submissions.column("cik").to_pylist()}
        kept = set(self.facts.column("cik").unique().to_pylist()) if self.facts.num_rows else set()
        return sorted(filed - kept)

    def companies(self) -> Iterator[BulkCompany]:
        """One frame per company (by CIK order), in :data:`FSDS_FACTS_SCHEMA`."""
        if self.facts.num_rows == 0:
            return
        ordered = self.facts.take(pc.sort_indices(self.facts, sort_keys=[("cik", "ascending")]))
        ciks = ordered.column("cik").combine_chunks()
        keys = ordered.column("ticker").combine_chunks()
        boundaries = np.flatnonzero(pc.not_equal(ciks[1:], ciks[:-1]).to_numpy(zero_copy_only=False)) + 1
        starts = [0, *boundaries.tolist()]
        ends = [*boundaries.tolist(), ordered.num_rows]
        for start, end in zip(starts, ends, strict=True):
            part = ordered.slice(start, end - start)
            yield BulkCompany(
                cik=ciks[start].as_py(),
                key=keys[start].as_py(),
                member="num.txt",
                table=part,
                payload_sha256=self.payload_sha256,
            )

    def filings(self) -> pa.Table:
        """``sub.txt`` as ``bronze.edgar_filings`` rows (parsed by the submissions parser; ``page`` = the zip)."""
        sub = self.submissions
        kept = set(self.facts.column("accn").unique().to_pylist()) if self.facts.num_rows else set()
        keys = dict(zip(self.facts.column("cik").to_pylist(), self.facts.column("ticker").to_pylist(), strict=False))
        parts = []
        rows = sub.to_pylist()
        by_cik: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            if row["adsh"] in kept:
                by_cik.setdefault(normalize_cik(row["cik"]), []).append(row)
        for cik, subs in sorted(by_cik.items()):
            accepted = [_accepted_iso(r["accepted"]) for r in subs]
            columns = {
                "accessionNumber": [r["adsh"] for r in subs],
                "form": [r["form"] for r in subs],
                "filingDate": [_iso(r["filed"]) for r in subs],
                "reportDate": [_iso(r["period"]) for r in subs],
                "acceptanceDateTime": accepted,
                "isXBRL": [1] * len(subs),
            }
            last = subs[-1]
            parts.append(
                parse_filings(
                    columns,
                    cik=cik,
                    ticker=keys[cik],
                    entity_name=last["name"] or "",
                    fiscal_year_end=last["fye"] or None,
                    sic=last["sic"] or None,
                    page=f"fsds:{Path(self.path).name}",
                    payload_sha256=self.payload_sha256,
                )
            )
        return pa.concat_tables(parts) if parts else FILINGS_SCHEMA.empty_table()


def _iso(yyyymmdd: str | None) -> str | None:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:8]}" if yyyymmdd else None


def _accepted_iso(text: str | None) -> str | None:
    # sub.txt: "2009-08-07 09:10:00.0"; the submissions API: "2009-08-07T09:10:00.000Z"
    return f"{text[:10]}T{text[11:19]}.000Z" if text and len(text) >= 19 else None


def fsds_period(start: date | None, end: date) -> tuple[date, int]:
    """``(ddate, qtrs)`` FSDS would give a fact with these exact dates: the grain both sources share.

    ``ddate``: ``end`` rounded to the nearest month end (a tie goes to the later one); ``qtrs``: the
    duration ``start``..``end`` (inclusive) in quarters of 365.25/4 days, rounded; 0 for an instant.
    """
    this_end = _month_end(end.year, end.month)
    previous_end = date.fromordinal(date(end.year, end.month, 1).toordinal() - 1)
    ddate = this_end if (this_end - end) <= (end - previous_end) else previous_end
    if start is None:
        return ddate, 0
    days = (end - start).days + 1
    return ddate, round(days / (365.25 / 4))


def _month_end(year: int, month: int) -> date:
    following = date(year + month // 12, month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


def _read_member_table(zf: zipfile.ZipFile, member: str, where: str) -> pa.Table:
    """A whole (small) member, every column as text: ``fye`` 0930 must not become the number 930."""
    try:
        with zf.open(member) as handle:
            names = handle.readline().decode("utf-8").rstrip("\r\n").split("\t")
        with zf.open(member) as handle:
            return pacsv.read_csv(
                handle,
                parse_options=_PARSE,
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in names}, strings_can_be_null=True
                ),
            )
    except KeyError as exc:
        raise FsdsError(f"{where}: no {member} in the archive: not a Financial Statement Data Set zip") from exc
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise FsdsError(f"{where}: {member} is not the tab-separated table the FSDS readme describes ({exc})") from exc


def read_quarter(archive: Path | IO[bytes], *, companies: Mapping[str, str] | None = None) -> FsdsQuarter:
    """The consolidated, standard-taxonomy facts of a quarter's zip, in :data:`FSDS_FACTS_SCHEMA`.

    ``num.txt`` is parsed block by block and each block is filtered and converted before the next is
    read, so memory holds the kept facts (compact Arrow), never the text or the dropped rows.
    """
    where = str(archive) if isinstance(archive, str | Path) else str(getattr(archive, "name", "<stream>"))
    sha = _sha256(archive)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FsdsError(f"{where}: not a readable zip ({exc}); download the quarter again") from exc
    with zf:
        sub = _read_member_table(zf, "sub.txt", where)
        _require(
            sub,
            ("adsh", "cik", "name", "form", "fy", "fp", "filed", "period", "accepted", "fye", "sic"),
            "sub.txt",
            where,
        )
        tags = _read_member_table(zf, "tag.txt", where)
        _require(tags, ("tag", "version", "custom", "datatype", "tlabel"), "tag.txt", where)
        selected = None if companies is None else {normalize_cik(k): v for k, v in companies.items()}
        lookup = _Lookup(sub, tags, selected)
        parts: list[pa.Table] = []
        dropped = {"segments": 0, "coreg": 0, "extension_tag": 0, "no_value": 0, "not_selected": 0, "unknown_adsh": 0}
        rows_read = 0
        try:
            with zf.open("num.txt") as handle:
                reader = pacsv.open_csv(
                    handle,
                    read_options=pacsv.ReadOptions(block_size=_BLOCK),
                    parse_options=_PARSE,
                    convert_options=pacsv.ConvertOptions(
                        column_types={c: pa.string() for c in NUM_COLUMNS}, strings_can_be_null=True
                    ),
                )
                _require_names(reader.schema.names, NUM_COLUMNS, "num.txt", where)
                for batch in reader:
                    rows_read += batch.num_rows
                    converted = lookup.convert(batch, dropped, sha)
                    if converted.num_rows:
                        parts.append(converted)
        except KeyError as exc:
            raise FsdsError(f"{where}: no num.txt in the archive: not a Financial Statement Data Set zip") from exc
        except pa.ArrowInvalid as exc:
            raise FsdsError(f"{where}: num.txt could not be parsed ({exc})") from exc
    facts = pa.concat_tables(parts) if parts else FSDS_FACTS_SCHEMA.empty_table()
    return FsdsQuarter(where, sha, facts, sub, rows_read, dropped)


NUM_COLUMNS = ("adsh", "tag", "version", "ddate", "qtrs", "uom", "segments", "coreg", "value")


def _require(table: pa.Table, columns: tuple[str, ...], member: str, where: str) -> None:
    _require_names(table.column_names, columns, member, where)


def _require_names(names: list[str], columns: tuple[str, ...], member: str, where: str) -> None:
    missing = [c for c in columns if c not in names]
    if missing:
        raise FsdsError(
            f"{where}: {member} lacks column(s) {', '.join(missing)} (has {', '.join(names)}): "
            "not the layout of SEC's Financial Statement Data Sets"
        )


def _sha256(archive: Path | IO[bytes]) -> str:
    digest = hashlib.sha256()
    if isinstance(archive, str | Path):
        with open(archive, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
    position = archive.tell()
    archive.seek(0)
    while chunk := archive.read(1 << 20):
        digest.update(chunk)
    archive.seek(position)
    return digest.hexdigest()


class _Lookup:
    """sub.txt and tag.txt as arrays that each num.txt block is joined against (vectorised)."""

    def __init__(self, sub: pa.Table, tags: pa.Table, selected: dict[str, str] | None) -> None:
        ciks = [normalize_cik(c) for c in sub.column("cik").to_pylist()]
        keys = [(selected or {}).get(c, c) for c in ciks]
        keep = [selected is None or c in selected for c in ciks]
        self.adsh = sub.column("adsh").combine_chunks()
        self.sub = {
            "cik": pa.array(ciks, pa.string()),
            "ticker": pa.array(keys, pa.string()),
            "entity_name": sub.column("name").combine_chunks(),
            "fy": pc.cast(sub.column("fy").combine_chunks(), pa.int32()),
            "fp": sub.column("fp").combine_chunks(),
            "form": sub.column("form").combine_chunks(),
            "filed": pc.cast(pc.strptime(sub.column("filed").combine_chunks(), "%Y%m%d", "s"), pa.date32()),
            "keep": pa.array(keep, pa.bool_()),
        }
        standard = pc.equal(tags.column("custom"), "0")
        tags = tags.filter(standard)
        self.tag_key = pc.binary_join_element_wise(tags.column("tag"), tags.column("version"), "\t").combine_chunks()
        self.tag_label = tags.column("tlabel").combine_chunks()
        self.tag_per_share = pc.equal(tags.column("datatype"), "perShare").combine_chunks()

    def convert(self, batch: pa.RecordBatch, dropped: dict[str, int], sha: str) -> pa.Table:
        table = pa.Table.from_batches([batch])
        masks = {
            "segments": _present(table.column("segments")),
            "coreg": _present(table.column("coreg")),
            "extension_tag": pc.invert(pc.match_substring(table.column("version"), "/")),
            "no_value": pc.invert(_present(table.column("value"))),
        }
        drop = pa.array(np.zeros(table.num_rows, dtype=bool))
        for reason, mask in masks.items():  # each row is counted under the first reason that drops it
            mask = pc.fill_null(mask, False)
            new = pc.and_(mask, pc.invert(drop))
            dropped[reason] += pc.sum(new).as_py() or 0
            drop = pc.or_(drop, mask)
        table = table.filter(pc.invert(drop))
        sub_row = pc.index_in(table.column("adsh"), value_set=self.adsh)
        unknown = pc.is_null(sub_row)
        dropped["unknown_adsh"] += pc.sum(unknown).as_py() or 0
        table, sub_row = table.filter(pc.invert(unknown)), sub_row.filter(pc.invert(unknown))
        keep = pc.take(self.sub["keep"], sub_row)
        dropped["not_selected"] += pc.sum(pc.invert(keep)).as_py() or 0
        table, sub_row = table.filter(keep), sub_row.filter(keep)
        n = table.num_rows
        if n == 0:
            return FSDS_FACTS_SCHEMA.empty_table()

        version = table.column("version")
        taxonomy = pc.list_element(pc.split_pattern(version, "/", max_splits=1), 0)
        for fsds_name, name in TAXONOMIES.items():
            taxonomy = pc.if_else(pc.equal(taxonomy, fsds_name), name, taxonomy)
        tag_row = pc.index_in(pc.binary_join_element_wise(table.column("tag"), version, "\t"), value_set=self.tag_key)
        per_share = pc.fill_null(pc.take(self.tag_per_share, tag_row), False)
        uom = table.column("uom")
        unit = pc.if_else(
            pc.and_(per_share, pc.invert(pc.match_substring(uom, "/"))),
            pc.binary_join_element_wise(uom, pa.scalar("shares"), "/"),
            uom,
        )
        end = pc.cast(pc.strptime(table.column("ddate"), "%Y%m%d", "s"), pa.date32())
        qtrs = pc.cast(table.column("qtrs"), pa.int32())
        end_np = end.to_numpy(zero_copy_only=False).astype("datetime64[D]")
        qtrs_np = qtrs.to_numpy(zero_copy_only=False).astype(np.int64)
        start_np = (end_np.astype("datetime64[M]") - (3 * qtrs_np - 1)).astype("datetime64[D]")
        start = pa.array(start_np, pa.date32())
        start = pc.if_else(pc.greater(qtrs, 0), start, pa.scalar(None, pa.date32()))

        def sub_column(name: str) -> pa.Array:
            return pc.take(self.sub[name], sub_row)

        columns = {
            "cik": sub_column("cik"),
            "ticker": sub_column("ticker"),
            "entity_name": sub_column("entity_name"),
            "taxonomy": taxonomy,
            "concept": table.column("tag"),
            "label": pc.take(self.tag_label, tag_row),
            "unit": unit,
            "value": pc.cast(table.column("value"), pa.float64()),
            "start_date": start,
            "end_date": end,
            "fy": sub_column("fy"),
            "fp": sub_column("fp"),
            "form": sub_column("form"),
            "filed": sub_column("filed"),
            "accn": table.column("adsh"),
            "frame": pa.nulls(n, pa.string()),
            "payload_sha256": pa.repeat(pa.scalar(sha, pa.string()), n),
            "qtrs": qtrs,
            "dates_derived": pa.repeat(pa.scalar(True), n),
        }
        return pa.Table.from_pydict(
            {f.name: _chunked(columns[f.name]) for f in FSDS_FACTS_SCHEMA}, schema=FSDS_FACTS_SCHEMA
        )


def _present(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.and_(pc.is_valid(column), pc.not_equal(pc.utf8_length(pc.fill_null(column, "")), 0))


def _chunked(values: Any) -> pa.ChunkedArray:
    return values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
