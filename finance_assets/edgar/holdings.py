"""Form 13F-HR documents -> Arrow rows: pure functions, no I/O.

A 13F-HR filing (institutional investment manager holdings, quarterly) is an EDGAR folder with two XML
documents: the cover page (``primary_doc.xml``, root ``edgarSubmission`` in the ``thirteenffiler``
namespace: manager, period, amendment, ``summaryPage`` totals) and the information table (root
``informationTable``: one ``infoTable`` per holding). Filers write the same schema in two XML spellings,
a default namespace (``<informationTable xmlns="...">``) or a prefix (``<ns1:informationTable
xmlns:ns1="...">``), so every lookup here goes by local name and never by prefix.

Values are kept **as reported** (``value`` of each holding, ``tableValueTotal`` of the cover page): the
SEC's unit changed from thousands of dollars to dollars for filings made from 2023-01-03 on, which
depends on the filing date, a fact of the filing index, not of these documents. Silver (dbt
``holdings_reports``) applies the rule and records it.

lxml parses with entity resolution and network access off: the documents come from the internet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from lxml import etree

from finance_assets.edgar.parse import ACCESSION_PATTERN, PayloadError, normalize_cik, parse_filings

#: Forms whose filings carry holdings (a 13F-NT notice has none; its holdings are in another manager's report).
HOLDINGS_FORMS = ("13F-HR", "13F-HR/A")
#: Documents are addressed under the manager's folder of the EDGAR archive (CIK without leading zeros).
ARCHIVE_FOLDER_URL = "https://www.sec.gov/Archives/edgar/data/{cik}/{folder}"
PRIMARY_DOCUMENT = "primary_doc.xml"
INFORMATION_TABLE_TYPE = "INFORMATION TABLE"

_PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "remove_comments": True, "huge_tree": False}


class WrongDocumentError(PayloadError):
    """Well-formed XML, but not the 13F document that was expected (another root element)."""


class ShadowedDocumentError(WrongDocumentError):
    """The document URL answered with EDGAR's folder listing instead of the document.

    EDGAR answers ``<folder>/index.xml`` (like ``index.json``) with its own listing of the folder, so a filer
    document of that name (LTS One Management's information table, accession 0001894188-23-000007) can
    only be read from the full submission text.
    """


# ---- filing keys and URLs ---------------------------------------------------------------------------------


def filing_key(cik: str | int, accession: str) -> str:
    """The Dagster partition key of one filing: ``<10-digit manager CIK>/<accession number>``.

    Both parts are needed to address the filing: EDGAR files it under the manager's CIK, while the
    accession number's prefix is the *submitter*, often a filing agent (Acorn Creek Capital, CIK
    0001994827, files through agent 0001951757).
    """
    accession = accession.strip()
    if not ACCESSION_PATTERN.match(accession):
        raise ValueError(f"Malformed accession number {accession!r}: expected 0001234567-YY-NNNNNN.")
    return f"{normalize_cik(cik)}/{accession}"


def split_filing_key(key: str) -> tuple[str, str]:
    """``0001894188/0001894188-23-000007`` -> (CIK, accession); a clear error for anything else."""
    cik, sep, accession = key.partition("/")
    try:
        if not sep:
            raise ValueError("no '/'")
        return normalize_cik(cik), filing_key(cik, accession).split("/")[1]
    except ValueError as exc:
        raise ValueError(
            f"13F filing partition key {key!r} is malformed ({exc}): expected <manager CIK>/<accession number>, "
            "e.g. 0001894188/0001894188-23-000007."
        ) from None


def folder_url(cik: str, accession: str) -> str:
    return ARCHIVE_FOLDER_URL.format(cik=int(cik), folder=accession.replace("-", ""))


def document_url(cik: str, accession: str, document: str) -> str:
    return f"{folder_url(cik, accession)}/{document}"


def filing_index_url(cik: str, accession: str) -> str:
    """EDGAR's JSON listing of the filing folder (names the information table document)."""
    return document_url(cik, accession, "index.json")


def full_submission_url(cik: str, accession: str) -> str:
    """The whole submission as one SGML text file (header + every document)."""
    return document_url(cik, accession, f"{accession}.txt")


# ---- XML helpers ------------------------------------------------------------------------------------


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _parse_xml(content: bytes, what: str) -> etree._Element:
    # Documents cut out of an SGML submission keep the newline before the XML declaration.
    try:
        return etree.fromstring(content.lstrip(), parser=etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise PayloadError(f"{what} is not well-formed XML: {exc}") from None


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    for child in element:
        if _local(child) == name:
            return child
    return None


def _path(element: etree._Element | None, path: str) -> etree._Element | None:
    for name in path.split("/"):
        element = _child(element, name)
    return element


def _text(element: etree._Element | None, path: str) -> str | None:
    found = _path(element, path)
    if found is None or found.text is None:
        return None
    text = " ".join(found.text.split())
    return text or None


def _integer(text: str | None, field: str, where: str) -> int | None:
    if text is None:
        return None
    cleaned = text.strip()
    if not cleaned.isdigit():
        raise PayloadError(f"{where}: {field} {text!r} is not a non-negative integer.")
    return int(cleaned)


def _boolean(text: str | None) -> bool | None:
    if text is None:
        return None
    lowered = text.strip().lower()
    if lowered in ("true", "y", "yes", "1"):
        return True
    if lowered in ("false", "n", "no", "0"):
        return False
    return None


def _form_date(text: str | None, field: str, where: str) -> date | None:
    """13F documents write dates as MM-DD-YYYY."""
    if text is None:
        return None
    try:
        return datetime.strptime(text.strip(), "%m-%d-%Y").date()
    except ValueError:
        raise PayloadError(f"{where}: {field} {text!r} is not a MM-DD-YYYY date.") from None


def _check_root(root: etree._Element, expected: str, what: str) -> None:
    name = _local(root)
    if name == "directory":
        raise ShadowedDocumentError(f"{what} answered with EDGAR's folder listing (<directory>), not the document.")
    if name != expected:
        raise WrongDocumentError(f"{what} has root element <{name}>, expected <{expected}>.")


# ---- cover page ---------------------------------------------------------------------------------------

COVER_PAGE_SCHEMA = pa.schema(
    [
        ("schema_version", pa.string()),
        ("submission_type", pa.string()),
        ("filer_cik", pa.string()),
        ("period_of_report", pa.date32()),
        ("report_calendar_or_quarter", pa.date32()),
        ("is_amendment", pa.bool_()),
        ("amendment_number", pa.int32()),
        ("amendment_type", pa.string()),
        ("manager_name", pa.string()),
        ("manager_city", pa.string()),
        ("manager_state_or_country", pa.string()),
        ("report_type", pa.string()),
        ("form13f_file_number", pa.string()),
        ("other_managers_reporting", pa.int32()),
        ("other_included_managers_count", pa.int32()),
        ("table_entry_total", pa.int64()),
        ("table_value_total", pa.int64()),
        ("is_confidential_omitted", pa.bool_()),
        ("signature_name", pa.string()),
        ("signature_date", pa.date32()),
    ]
)


def parse_cover_page(content: bytes, *, what: str = "13F cover page") -> dict[str, Any]:
    """The cover page (``primary_doc.xml``) as one record of :data:`COVER_PAGE_SCHEMA`.

    ``table_value_total`` is as reported (thousands of dollars before 2023-01-03, dollars since).
    A report without a summary page (a 13F NOTICE) has null totals.
    """
    root = _parse_xml(content, what)
    _check_root(root, "edgarSubmission", what)
    header, form = _child(root, "headerData"), _child(root, "formData")
    cover, summary, signature = _child(form, "coverPage"), _child(form, "summaryPage"), _child(form, "signatureBlock")
    if header is None or cover is None:
        raise PayloadError(f"{what} has no headerData/coverPage: not a 13F cover page.")
    filer_cik = _text(header, "filerInfo/filer/credentials/cik")
    others = _path(cover, "otherManagersInfo")
    record = {
        "schema_version": _text(root, "schemaVersion"),
        "submission_type": _text(header, "submissionType"),
        "filer_cik": normalize_cik(filer_cik) if filer_cik else None,
        "period_of_report": _form_date(_text(header, "filerInfo/periodOfReport"), "periodOfReport", what),
        "report_calendar_or_quarter": _form_date(
            _text(cover, "reportCalendarOrQuarter"), "reportCalendarOrQuarter", what
        ),
        "is_amendment": _boolean(_text(cover, "isAmendment")),
        "amendment_number": _integer(_text(cover, "amendmentNo"), "amendmentNo", what),
        "amendment_type": _text(cover, "amendmentInfo/amendmentType"),
        "manager_name": _text(cover, "filingManager/name"),
        "manager_city": _text(cover, "filingManager/address/city"),
        "manager_state_or_country": _text(cover, "filingManager/address/stateOrCountry"),
        "report_type": _text(cover, "reportType"),
        "form13f_file_number": _text(cover, "form13FFileNumber"),
        "other_managers_reporting": sum(1 for c in others if _local(c) == "otherManager") if others is not None else 0,
        "other_included_managers_count": _integer(
            _text(summary, "otherIncludedManagersCount"), "otherIncludedManagersCount", what
        ),
        "table_entry_total": _integer(_text(summary, "tableEntryTotal"), "tableEntryTotal", what),
        "table_value_total": _integer(_text(summary, "tableValueTotal"), "tableValueTotal", what),
        "is_confidential_omitted": _boolean(_text(summary, "isConfidentialOmitted")),
        "signature_name": _text(signature, "name"),
        "signature_date": _form_date(_text(signature, "signatureDate"), "signatureDate", what),
    }
    if record["report_calendar_or_quarter"] is None:
        raise PayloadError(f"{what} has no coverPage/reportCalendarOrQuarter (the period the report covers).")
    return record


# ---- information table -----------------------------------------------------------------------------------

INFORMATION_TABLE_SCHEMA = pa.schema(
    [
        ("row_number", pa.int32()),
        ("name_of_issuer", pa.string()),
        ("title_of_class", pa.string()),
        ("cusip", pa.string()),
        ("figi", pa.string()),
        ("value_reported", pa.int64()),
        ("shares_or_principal", pa.int64()),
        ("shares_or_principal_type", pa.string()),
        ("put_call", pa.string()),
        ("investment_discretion", pa.string()),
        ("other_manager", pa.string()),
        ("voting_sole", pa.int64()),
        ("voting_shared", pa.int64()),
        ("voting_none", pa.int64()),
    ]
)


def parse_information_table(content: bytes, *, what: str = "13F information table") -> pa.Table:
    """Every ``infoTable`` entry, in document order (``row_number`` from 1), values as reported.

    ``put_call`` is upper-cased (the schema says ``Put``/``Call``, older filings ``PUT``/``CALL``);
    ``cusip`` is upper-cased and stripped; nothing else is rewritten.
    """
    root = _parse_xml(content, what)
    _check_root(root, "informationTable", what)
    rows: list[dict[str, Any]] = []
    for entry in root:
        if _local(entry) != "infoTable":
            continue
        number = len(rows) + 1
        where = f"{what}, entry {number}"
        put_call = _text(entry, "putCall")
        cusip = _text(entry, "cusip")
        rows.append(
            {
                "row_number": number,
                "name_of_issuer": _text(entry, "nameOfIssuer"),
                "title_of_class": _text(entry, "titleOfClass"),
                "cusip": cusip.upper() if cusip else None,
                "figi": _text(entry, "figi"),
                "value_reported": _integer(_text(entry, "value"), "value", where),
                "shares_or_principal": _integer(_text(entry, "shrsOrPrnAmt/sshPrnamt"), "sshPrnamt", where),
                "shares_or_principal_type": (_text(entry, "shrsOrPrnAmt/sshPrnamtType") or "").upper() or None,
                "put_call": put_call.upper() if put_call else None,
                "investment_discretion": _text(entry, "investmentDiscretion"),
                "other_manager": _text(entry, "otherManager"),
                "voting_sole": _integer(_text(entry, "votingAuthority/Sole"), "votingAuthority/Sole", where),
                "voting_shared": _integer(_text(entry, "votingAuthority/Shared"), "votingAuthority/Shared", where),
                "voting_none": _integer(_text(entry, "votingAuthority/None"), "votingAuthority/None", where),
            }
        )
        if rows[-1]["value_reported"] is None:
            raise PayloadError(f"{where} ({rows[-1]['name_of_issuer']}) has no value.")
    return pa.Table.from_pylist(rows, schema=INFORMATION_TABLE_SCHEMA)


# ---- the filing folder and the full submission ----------------------------------------------------------


@dataclass(frozen=True)
class FilingDocuments:
    primary: str
    information_table_candidates: tuple[str, ...]


def filing_documents(index_doc: dict[str, Any], *, what: str = "filing index") -> FilingDocuments:
    """The cover page and the candidate information tables named by a folder's ``index.json``.

    EDGAR names the cover page ``primary_doc.xml``; the information table's name is the filer's choice,
    so every other top-level ``.xml`` is a candidate (the loader keeps the one whose root is
    ``informationTable``). Rendered copies live in sub-folders (``xslForm13F_X02/``) and are not items.
    """
    try:
        items = index_doc["directory"]["item"]
        names = [str(item["name"]) for item in items]
    except (KeyError, TypeError) as exc:
        raise PayloadError(f"{what} has no directory.item list ({exc!r}): not an EDGAR folder listing.") from None
    if PRIMARY_DOCUMENT not in names:
        raise PayloadError(f"{what} lists no {PRIMARY_DOCUMENT}: not a 13F filing folder (items: {names}).")
    candidates = tuple(n for n in names if n.lower().endswith(".xml") and n != PRIMARY_DOCUMENT)
    return FilingDocuments(PRIMARY_DOCUMENT, candidates)


_SGML_DOCUMENT = re.compile(rb"<DOCUMENT>(.*?)</DOCUMENT>", re.DOTALL)
_SGML_TYPE = re.compile(rb"<TYPE>([^\r\n<]*)")
_SGML_FILENAME = re.compile(rb"<FILENAME>([^\r\n<]*)")
_SGML_XML = re.compile(rb"<XML>(.*?)</XML>", re.DOTALL)


def submission_document(text: bytes, *, document_type: str = INFORMATION_TABLE_TYPE) -> tuple[str, bytes]:
    """(file name, XML body) of the first document of ``document_type`` in a full submission text file."""
    for block in _SGML_DOCUMENT.finditer(text):
        body = block.group(1)
        kind = _SGML_TYPE.search(body)
        if kind and kind.group(1).strip().decode("ascii", "replace").upper() == document_type:
            xml = _SGML_XML.search(body)
            if xml is None:
                raise PayloadError(f"the submission's {document_type} document has no <XML> body.")
            name = _SGML_FILENAME.search(body)
            return (name.group(1).strip().decode("utf-8", "replace") if name else ""), xml.group(1).strip()
    raise PayloadError(f"the submission text has no {document_type} document.")


# ---- discovery: a manager's 13F-HR filings from the submissions index ------------------------------------

THIRTEENF_FILINGS_SCHEMA = pa.schema(
    [
        ("manager_cik", pa.string()),
        ("manager_name", pa.string()),
        ("accession_number", pa.string()),
        ("filing_key", pa.string()),
        ("form", pa.string()),
        ("filing_date", pa.date32()),
        ("acceptance_datetime", pa.timestamp("us", tz="UTC")),
        ("report_date", pa.date32()),
        ("primary_document", pa.string()),
        ("has_xml_documents", pa.bool_()),
        ("file_number", pa.string()),
        ("page", pa.string()),
        ("payload_sha256", pa.string()),
    ]
)


def thirteenf_filings(
    pages: Iterable[tuple[str, dict[str, list[Any]], str]], *, cik: str, manager_name: str
) -> pa.Table:
    """The 13F-HR and 13F-HR/A filings of one submissions index (``(page, columns, sha256)`` per page)."""
    parts = []
    for page, columns, sha256 in pages:
        table = parse_filings(
            columns,
            cik=cik,
            ticker="",
            entity_name=manager_name,
            fiscal_year_end=None,
            sic=None,
            page=page,
            payload_sha256=sha256,
        )
        mask = [form in HOLDINGS_FORMS for form in table.column("form").to_pylist()]
        parts.append(table.filter(pa.array(mask, pa.bool_())))
    if not parts:
        return THIRTEENF_FILINGS_SCHEMA.empty_table()
    found = pa.concat_tables(parts)
    accessions = found.column("accession_number").to_pylist()
    data = {
        "manager_cik": [cik] * found.num_rows,
        "manager_name": [manager_name] * found.num_rows,
        "accession_number": accessions,
        "filing_key": [filing_key(cik, a) for a in accessions],
        # XML-era reports (from 2013Q2) have primary_doc.xml; older ones are text documents this loader skips
        "has_xml_documents": [
            (d or "").endswith(PRIMARY_DOCUMENT) for d in found.column("primary_document").to_pylist()
        ],
        **{name: found.column(name) for name in THIRTEENF_FILINGS_SCHEMA.names if name in found.column_names},
    }
    table = pa.Table.from_pydict({f.name: data[f.name] for f in THIRTEENF_FILINGS_SCHEMA}, THIRTEENF_FILINGS_SCHEMA)
    # EDGAR can shift a filing across the page boundary between fetches: one row per accession.
    seen: set[str] = set()
    keep = []
    for accession in table.column("accession_number").to_pylist():
        keep.append(accession not in seen)
        seen.add(accession)
    return table.filter(pa.array(keep, pa.bool_()))
