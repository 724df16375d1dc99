"""One sentence per column of the EDGAR Bronze tables (the Dagster UI's column descriptions).

Beside the Arrow schemas of ``parse.py``, ``holdings.py`` and ``holdings_assets.py``;
:func:`finance_assets.core.columns.described_schema` checks they cover every column.
"""

from __future__ import annotations

_SHA = "SHA-256 of the raw response this row was parsed from (its bytes are in the raw archive)."

COMPANY_FACTS_DOCS = {
    "cik": "SEC Central Index Key, 10 digits with leading zeros.",
    "ticker": "Ticker of the company partition the facts were fetched for.",
    "entity_name": "Company name as companyfacts reports it.",
    "taxonomy": "XBRL taxonomy of the concept: us-gaap, ifrs-full, dei, srt or a company extension.",
    "concept": "XBRL concept name, e.g. RevenueFromContractWithCustomerExcludingAssessedTax.",
    "label": "The taxonomy's human label of the concept.",
    "unit": "Unit of the value as SEC writes it: USD, shares, USD/shares, pure, ...",
    "value": "The reported value, in `unit` (not scaled).",
    "start_date": "First day of the reporting period; null for an instant (balance-sheet) fact.",
    "end_date": "Last day of the period, or the instant of a balance-sheet fact.",
    "fy": "Fiscal year of the FILING that reported the fact (not of the period: comparatives share it).",
    "fp": "Fiscal period of the filing (FY, Q1-Q3), not of the fact's period.",
    "form": "Form type of the filing: 10-K, 10-Q, 20-F, 8-K, DEF 14A, ... (amendments end in /A).",
    "filed": "Date the filing was accepted by EDGAR: when the value became public.",
    "accn": "Accession number of the filing (0000320193-23-000106).",
    "frame": "SEC's calendar frame (CY2023Q3I, CY2022) when SEC assigned the fact to one; null otherwise.",
    "payload_sha256": _SHA,
}

FILINGS_DOCS = {
    "cik": "SEC Central Index Key, 10 digits with leading zeros.",
    "ticker": "Ticker of the company partition.",
    "entity_name": "Company name in the submissions index.",
    "fiscal_year_end": "Fiscal year end as MMDD (0930 for Apple).",
    "sic": "Standard Industrial Classification code.",
    "accession_number": "Accession number of the filing.",
    "form": "Form type (10-K, 10-Q, 8-K, NT 10-K, 10-K/A, ...).",
    "filing_date": "Date EDGAR accepted the filing.",
    "report_date": "Period of report (the period end for periodic reports); null when the form has none.",
    "acceptance_datetime": "EDGAR acceptance timestamp, UTC.",
    "primary_document": "File name of the filing's primary document.",
    "primary_doc_description": "Description of the primary document as filed.",
    "is_xbrl": "The filing carries XBRL financial data.",
    "is_inline_xbrl": "The XBRL is inline (iXBRL in the HTML document).",
    "items": "8-K item numbers reported (comma-separated), empty for other forms.",
    "size": "Size of the filing in bytes.",
    "file_number": "SEC file number of the registrant for this form.",
    "act": "Securities act the filing is made under (33, 34).",
    "page": "Which submissions page listed it: `recent` or the name of an older page file.",
    "payload_sha256": _SHA,
}

COMPANY_TICKERS_DOCS = {
    "ticker": "Exchange ticker (SEC's spelling, e.g. BRK-B).",
    "cik": "SEC Central Index Key, 10 digits with leading zeros.",
    "name": "Company name in SEC's ticker map.",
    "exchange": "Listing venue (Nasdaq, NYSE, OTC, ...); null when only the plain ticker file lists it.",
}

THIRTEENF_FILINGS_DOCS = {
    "manager_cik": "CIK of the institutional investment manager (the partition), 10 digits.",
    "manager_name": "Manager name in its submissions index.",
    "accession_number": "Accession number of the 13F filing.",
    "filing_key": "`<manager CIK>/<accession>`: the filing's partition key.",
    "form": "13F-HR or 13F-HR/A (amendment).",
    "filing_date": "Date EDGAR accepted the filing.",
    "acceptance_datetime": "EDGAR acceptance timestamp, UTC.",
    "report_date": "Quarter end the holdings are reported for.",
    "primary_document": "File name of the primary document.",
    "has_xml_documents": "The filing has XML documents (cover page and information table) to load.",
    "file_number": "The manager's 13F file number (028-xxxxx).",
    "page": "Which submissions page listed it: `recent` or an older page file.",
    "payload_sha256": _SHA,
}

_COVER_ONLY = {
    "schema_version": "Version of SEC's 13F XML schema the cover page uses.",
    "submission_type": "Submission type on the cover page (13F-HR, 13F-HR/A).",
    "filer_cik": "CIK of the filer as written on the cover page.",
    "period_of_report": "Period of report on the cover page (quarter end).",
    "report_calendar_or_quarter": "Calendar quarter the report covers, as written on the cover page.",
    "is_amendment": "The filing amends an earlier one.",
    "amendment_number": "Amendment number; null for an original filing.",
    "amendment_type": "RESTATEMENT (replaces the holdings) or NEW HOLDINGS (adds to them); null if none.",
    "manager_name": "Manager name on the cover page.",
    "manager_city": "City of the manager's business address.",
    "manager_state_or_country": "State or country code of the manager's address.",
    "report_type": "13F HOLDINGS REPORT, 13F NOTICE or 13F COMBINATION REPORT.",
    "form13f_file_number": "The manager's 13F file number on the cover page.",
    "other_managers_reporting": "Number of other managers reporting for this manager.",
    "other_included_managers_count": "Number of other included managers (summary page).",
    "table_entry_total": "Number of information table entries, as reported on the summary page.",
    "table_value_total": "Total value of the information table, as reported (units as filed).",
    "is_confidential_omitted": "Confidential information was omitted and filed separately.",
    "signature_name": "Name of the person who signed the report.",
    "signature_date": "Date of the signature.",
    "cover_page_url": "URL of the cover page document (primary_doc.xml).",
    "cover_page_sha256": "SHA-256 of the cover page bytes (in the raw archive).",
    "information_table_document": "File name of the information table document.",
    "information_table_url": "URL of the information table document.",
    "information_table_sha256": "SHA-256 of the information table bytes (in the raw archive).",
    "information_table_status": "loaded, missing or malformed: what became of the information table.",
    "information_table_detail": "Why the information table is missing or malformed; null when loaded.",
    "holdings_loaded": "Number of holdings rows written to bronze.edgar_13f_holdings for the filing.",
    "holdings_value_reported": "Sum of value_reported over the holdings loaded (units as filed).",
}
_FILING_KEYS = {
    "filing_key": "`<manager CIK>/<accession>`: the filing's partition key.",
    "manager_cik": "CIK of the manager, 10 digits.",
    "accession_number": "Accession number of the 13F filing.",
}
COVER_PAGES_DOCS = {**_FILING_KEYS, **_COVER_ONLY}

HOLDINGS_DOCS = {
    **_FILING_KEYS,
    "row_number": "Position of the entry in the information table (1-based).",
    "name_of_issuer": "Issuer name as filed.",
    "title_of_class": "Class of the security (COM, CL A, NOTE 2.5% 2030, ...).",
    "cusip": "CUSIP of the security (9 characters).",
    "figi": "FIGI of the security when the filer gave one.",
    "value_reported": "Market value as reported: dollars from 2023 on, thousands of dollars before.",
    "shares_or_principal": "Number of shares, or principal amount for debt.",
    "shares_or_principal_type": "SH (shares) or PRN (principal amount).",
    "put_call": "PUT or CALL for options; null for the security itself.",
    "investment_discretion": "SOLE, DFND (shared-defined) or OTR (shared-other).",
    "other_manager": "Sequence numbers of the other managers sharing discretion.",
    "voting_sole": "Shares with sole voting authority.",
    "voting_shared": "Shares with shared voting authority.",
    "voting_none": "Shares with no voting authority.",
    "payload_sha256": _SHA,
}

FSDS_FACTS_DOCS = {
    **COMPANY_FACTS_DOCS,
    "qtrs": "FSDS's duration of the fact in quarters, rounded to a whole number (0: an instant).",
    "dates_derived": "True on every FSDS row: start_date is derived from ddate and qtrs (FSDS has no start date).",
}

CHANGED_COMPANIES_DOCS = {
    "ticker": "The company's partition key (ticker) in the lakehouse.",
    "cik": COMPANY_FACTS_DOCS["cik"],
    "accession_number": "Accession number of a filing SEC lists for the company that bronze.edgar_filings lacks.",
    "form": "SEC form type of that filing (10-K, 10-Q, 8-K...).",
    "filing_date": "Date SEC received that filing.",
    "detected_at": "When this refresh found the filing (UTC).",
}
