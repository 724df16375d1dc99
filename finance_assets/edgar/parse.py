"""SEC EDGAR payloads -> Arrow tables, with no per-fact Python objects beyond what the JSON parser makes.

companyfacts nests facts as taxonomy -> concept -> unit -> [fact, ...]. We gather the fact dicts that
orjson already built into one flat list and let Arrow's C++ converter turn them into a struct array in
one call; the taxonomy/concept/unit columns are dictionary arrays indexed by group, so the Python loop
runs once per (concept, unit), not once per fact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from babel.numbers import list_currencies

CIK_PATTERN = re.compile(r"^\d{10}$")
ACCESSION_PATTERN = re.compile(r"^\d{10}-\d{2}-\d{6}$")


# ISO 4217 currency codes (babel's CLDR data: current and historic), for recognising a currency unit.
CURRENCIES: frozenset[str] = frozenset(list_currencies())
_MEASURE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def expected_unit(unit: str) -> bool:
    """A companyfacts unit we can interpret: each part of ``A/B`` an ISO 4217 currency or a named measure.

    XBRL filers may name their own measures (``shares``, ``pure``, ``Store``, ``Stock_options``), so a word
    is accepted; what is refused is a currency-like code that is no currency (``USX``, ``US$``, ``USD000``):
    a value in it would be summed as if it were in a currency it is not.
    """
    parts = unit.split("/")
    for part in parts:
        if part in CURRENCIES:
            continue
        if not _MEASURE.match(part) or (part.isupper() and len(part) <= 4) or any(c.isdigit() for c in part[:4]):
            return False
    return bool(parts)


class PayloadError(ValueError):
    """A payload parsed as JSON but is not shaped like the endpoint's documented response.

    ``field`` is the JSON path of the offending part (``facts.us-gaap.Revenues.units.USD[3].val``) when
    known, so an error names the field rather than surfacing as a bare ``ArrowTypeError``.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        return (_payload_error, (str(self), self.field))


def _payload_error(message: str, field: str | None) -> PayloadError:
    return PayloadError(message, field=field)


def normalize_cik(cik: int | str) -> str:
    """SEC's 10-digit, zero-padded CIK; rejects anything that is not a positive integer of <= 10 digits."""
    text = str(cik).strip()
    if text.upper().startswith("CIK"):
        text = text[3:]
    if not text.isdigit() or len(text) > 10 or int(text) == 0:
        raise ValueError(f"Malformed CIK {cik!r}: expected up to 10 digits, e.g. 320193 or 0000320193.")
    return text.zfill(10)


_FACT_STRUCT = pa.struct(
    [
        ("start", pa.string()),
        ("end", pa.string()),
        ("val", pa.float64()),
        ("accn", pa.string()),
        ("fy", pa.int32()),
        ("fp", pa.string()),
        ("form", pa.string()),
        ("filed", pa.string()),
        ("frame", pa.string()),
    ]
)

COMPANY_FACTS_SCHEMA = pa.schema(
    [
        ("cik", pa.string()),
        ("ticker", pa.string()),
        ("entity_name", pa.string()),
        ("taxonomy", pa.string()),
        ("concept", pa.string()),
        ("label", pa.string()),
        ("unit", pa.string()),
        ("value", pa.float64()),
        ("start_date", pa.date32()),
        ("end_date", pa.date32()),
        ("fy", pa.int32()),
        ("fp", pa.string()),
        ("form", pa.string()),
        ("filed", pa.date32()),
        ("accn", pa.string()),
        ("frame", pa.string()),
        ("payload_sha256", pa.string()),
    ]
)


def parse_company_facts(payload: bytes | dict[str, Any], *, ticker: str, payload_sha256: str = "") -> pa.Table:
    """Every fact in a companyfacts payload, one row per (taxonomy, concept, unit, period, filing)."""
    doc = orjson.loads(payload) if isinstance(payload, bytes | bytearray | memoryview) else payload
    if not isinstance(doc, dict) or "facts" not in doc or "cik" not in doc:
        raise PayloadError("companyfacts payload has no 'cik'/'facts': not an XBRL companyfacts response")
    cik = normalize_cik(doc["cik"])

    facts: list[dict[str, Any]] = []
    taxonomies: list[str] = []
    concepts: list[str] = []
    labels: list[str | None] = []
    units: list[str] = []
    lengths: list[int] = []
    path = "facts"
    try:
        for taxonomy, concept_map in doc["facts"].items():
            path = f"facts.{taxonomy}"
            for concept, body in concept_map.items():
                path = f"facts.{taxonomy}.{concept}"
                label = body.get("label")
                path = f"facts.{taxonomy}.{concept}.units"
                for unit, unit_facts in body.get("units", {}).items():
                    path = f"facts.{taxonomy}.{concept}.units.{unit}"
                    if not isinstance(unit_facts, list):
                        raise TypeError(f"expected a list of facts, got {type(unit_facts).__name__}")
                    facts.extend(unit_facts)
                    taxonomies.append(taxonomy)
                    concepts.append(concept)
                    labels.append(label)
                    units.append(unit)
                    lengths.append(len(unit_facts))
    except (AttributeError, TypeError) as exc:
        raise PayloadError(f"companyfacts {path} is not shaped as documented ({exc})", field=path) from exc

    group = pa.array(np.repeat(np.arange(len(lengths), dtype=np.int32), lengths), type=pa.int32())

    def by_group(values: list[Any]) -> pa.Array:
        return pa.DictionaryArray.from_arrays(group, pa.array(values, type=pa.string())).dictionary_decode()

    try:
        struct = pa.array(facts, type=_FACT_STRUCT)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        field = _locate_bad_fact(facts, lengths, taxonomies, concepts, units)
        raise PayloadError(f"companyfacts {field} has a value of the wrong type ({exc})", field=field) from exc
    n = len(struct)

    def constant(value: str) -> pa.Array:  # built in C++, not from n Python references
        return pa.repeat(pa.scalar(value, type=pa.string()), n)

    columns = {
        "cik": constant(cik),
        "ticker": constant(ticker),
        "entity_name": constant(doc.get("entityName") or ""),
        "taxonomy": by_group(taxonomies),
        "concept": by_group(concepts),
        "label": by_group(labels),
        "unit": by_group(units),
        "value": struct.field("val"),
        "start_date": _date(struct, "start"),
        "end_date": _date(struct, "end"),
        "fy": struct.field("fy"),
        "fp": struct.field("fp"),
        "form": struct.field("form"),
        "filed": _date(struct, "filed"),
        "accn": struct.field("accn"),
        "frame": struct.field("frame"),
        "payload_sha256": constant(payload_sha256),
    }
    return pa.Table.from_pydict(columns, schema=COMPANY_FACTS_SCHEMA)


def _date(struct: pa.StructArray, name: str) -> pa.Array:
    """A fact's date field as a date; a value that is not an ISO date names the field."""
    try:
        return pc.cast(struct.field(name), pa.date32())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise PayloadError(f"companyfacts fact field {name!r} is not an ISO date ({exc})", field=name) from exc


def _locate_bad_fact(
    facts: list[Any], lengths: list[int], taxonomies: list[str], concepts: list[str], units: list[str]
) -> str:
    """The JSON path of the first fact Arrow cannot convert (only run on the error path)."""
    position = 0
    for group, length in enumerate(lengths):
        for offset in range(length):
            fact = facts[position + offset]
            where = f"facts.{taxonomies[group]}.{concepts[group]}.units.{units[group]}[{offset}]"
            if not isinstance(fact, dict):
                return where
            for field in _FACT_STRUCT:
                try:
                    pa.array([fact.get(field.name)], type=field.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                    return f"{where}.{field.name}"
        position += length
    return "facts"


FILINGS_SCHEMA = pa.schema(
    [
        ("cik", pa.string()),
        ("ticker", pa.string()),
        ("entity_name", pa.string()),
        ("fiscal_year_end", pa.string()),
        ("sic", pa.string()),
        ("accession_number", pa.string()),
        ("form", pa.string()),
        ("filing_date", pa.date32()),
        ("report_date", pa.date32()),
        ("acceptance_datetime", pa.timestamp("us", tz="UTC")),
        ("primary_document", pa.string()),
        ("primary_doc_description", pa.string()),
        ("is_xbrl", pa.bool_()),
        ("is_inline_xbrl", pa.bool_()),
        ("items", pa.string()),
        ("size", pa.int64()),
        ("file_number", pa.string()),
        ("act", pa.string()),
        ("page", pa.string()),
        ("payload_sha256", pa.string()),
    ]
)

_SUBMISSION_COLUMNS = {
    "accessionNumber": "accession_number",
    "form": "form",
    "filingDate": "filing_date",
    "reportDate": "report_date",
    "acceptanceDateTime": "acceptance_datetime",
    "primaryDocument": "primary_document",
    "primaryDocDescription": "primary_doc_description",
    "isXBRL": "is_xbrl",
    "isInlineXBRL": "is_inline_xbrl",
    "items": "items",
    "size": "size",
    "fileNumber": "file_number",
    "act": "act",
}


def _blank_to_null(array: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, array.type), array)


def parse_filings(
    columns: dict[str, list[Any]],
    *,
    cik: str,
    ticker: str,
    entity_name: str,
    fiscal_year_end: str | None,
    sic: str | None,
    page: str,
    payload_sha256: str = "",
) -> pa.Table:
    """The column-oriented filing list of a submissions payload (``filings.recent`` or an extra page)."""
    if not isinstance(columns, dict) or "accessionNumber" not in columns:
        raise PayloadError(f"submissions page {page} has no accessionNumber column", field="accessionNumber")
    n = len(columns["accessionNumber"])
    raw: dict[str, pa.Array] = {}
    current = ""
    try:
        for source, target in _SUBMISSION_COLUMNS.items():
            current = source
            raw[target] = pa.array(columns[source]) if columns.get(source) is not None else pa.nulls(n)
            if len(raw[target]) != n:
                raise ValueError(f"{len(raw[target])} values, accessionNumber has {n}: a truncated page")
        for key, source in (("report_date", "reportDate"), ("filing_date", "filingDate")):
            current = source
            raw[key] = pc.cast(_blank_to_null(pc.cast(raw[key], pa.string())), pa.date32())
        current = "acceptanceDateTime"
        accepted = _blank_to_null(pc.cast(raw["acceptance_datetime"], pa.string()))
        raw["acceptance_datetime"] = pc.cast(
            pc.strptime(pc.utf8_replace_slice(accepted, 19, 100, ""), format="%Y-%m-%dT%H:%M:%S", unit="us"),
            pa.timestamp("us", tz="UTC"),
        )
        for key, source in (("is_xbrl", "isXBRL"), ("is_inline_xbrl", "isInlineXBRL")):
            current = source
            raw[key] = pc.cast(pc.cast(raw[key], pa.int8()), pa.bool_())
        for source, key in _SUBMISSION_COLUMNS.items():
            if key in ("items", "primary_document", "primary_doc_description", "file_number", "act", "form"):
                current = source
                raw[key] = _blank_to_null(pc.cast(raw[key], pa.string()))
        current = "size"
        raw["size"] = pc.cast(raw["size"], pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
        if isinstance(exc, PayloadError):
            raise
        raise PayloadError(
            f"submissions page {page} column {current!r} is not as documented ({exc})", field=current
        ) from exc

    def const(value: str | None) -> pa.Array:
        return pa.array([value] * n, type=pa.string())

    table = {
        "cik": const(cik),
        "ticker": const(ticker),
        "entity_name": const(entity_name),
        "fiscal_year_end": const(fiscal_year_end),
        "sic": const(sic),
        **raw,
        "page": const(page),
        "payload_sha256": const(payload_sha256),
    }
    return pa.Table.from_pydict({f.name: table[f.name] for f in FILINGS_SCHEMA}, schema=FILINGS_SCHEMA)


def submissions_pages(doc: dict[str, Any]) -> list[str]:
    """The extra (older) pages a submissions index lists under ``filings.files``, by name."""
    try:
        return [str(page["name"]) for page in doc["filings"].get("files", [])]
    except (AttributeError, KeyError, TypeError) as exc:
        raise PayloadError(f"submissions index has a malformed filings.files list ({exc!r})") from exc


def parse_submissions(
    doc: dict[str, Any],
    pages: Iterable[tuple[str, dict[str, Any], str]] = (),
    *,
    ticker: str,
    payload_sha256: str = "",
) -> pa.Table:
    """Every filing of a submissions index (``filings.recent``) and of its extra ``pages``.

    ``pages``: ``(name, page document, sha256 of its payload)`` for each extra page that was found. The
    same filing can appear on two pages when EDGAR shifts its page boundary between fetches: the first
    occurrence (``recent`` first, then the pages in the given order) is kept.
    """
    try:
        company = {
            "cik": normalize_cik(doc["cik"]),
            "ticker": ticker,
            "entity_name": doc.get("name") or "",
            "fiscal_year_end": doc.get("fiscalYearEnd"),
            "sic": doc.get("sic"),
        }
        recent = doc["filings"]["recent"]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"submissions index has no cik/filings.recent ({exc!r})") from exc
    parts = [parse_filings(recent, page="recent", payload_sha256=payload_sha256, **company)]
    for name, page_doc, page_sha256 in pages:
        if not isinstance(page_doc, dict):
            raise PayloadError(f"submissions page {name} is not a JSON object")
        parts.append(parse_filings(page_doc, page=name, payload_sha256=page_sha256, **company))
    table = pa.concat_tables(parts)
    if len(parts) == 1:
        return table
    first = (
        table.append_column("_row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
        .group_by("accession_number", use_threads=False)
        .aggregate([("_row", "min")])
        .column("_row_min")
    )
    return table.take(pc.sort_indices(first))


COMPANY_TICKERS_SCHEMA = pa.schema(
    [
        ("ticker", pa.string()),
        ("cik", pa.string()),
        ("name", pa.string()),
        ("exchange", pa.string()),
    ]
)


def parse_company_tickers(exchange_doc: dict[str, Any], tickers_doc: dict[str, Any] | None) -> pa.Table:
    """Ticker map from ``company_tickers_exchange.json``, completed by ``company_tickers.json``.

    The exchange file carries the listing venue; the plain file sometimes lists tickers the exchange
    file lacks (and vice versa), so we take the union, preferring the exchange file's row.
    """
    if "fields" not in exchange_doc or "data" not in exchange_doc:
        raise PayloadError("company_tickers_exchange.json has no fields/data: unexpected shape")
    idx = {name: i for i, name in enumerate(exchange_doc["fields"])}
    rows: dict[str, tuple[str, str, str | None]] = {}
    for rec in exchange_doc["data"]:
        ticker = str(rec[idx["ticker"]]).upper()
        rows.setdefault(ticker, (normalize_cik(rec[idx["cik"]]), rec[idx["name"]], rec[idx["exchange"]] or None))
    for rec in (tickers_doc or {}).values():
        ticker = str(rec["ticker"]).upper()
        rows.setdefault(ticker, (normalize_cik(rec["cik_str"]), rec["title"], None))
    tickers = sorted(rows)
    return pa.Table.from_pydict(
        {
            "ticker": tickers,
            "cik": [rows[t][0] for t in tickers],
            "name": [rows[t][1] for t in tickers],
            "exchange": [rows[t][2] for t in tickers],
        },
        schema=COMPANY_TICKERS_SCHEMA,
    )
