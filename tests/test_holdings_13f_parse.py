"""13F-HR documents parsed from the recorded filings (../shared/replay/edgar/13f), both XML namespace spellings.

Expected values are read from the documents themselves (cover page summaryPage, information table entries)
and from the replay README's provenance notes; each test names the filing it reads.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from finance_assets.edgar.holdings import (
    PayloadError,
    ShadowedDocumentError,
    WrongDocumentError,
    filing_documents,
    filing_key,
    parse_cover_page,
    parse_information_table,
    split_filing_key,
    submission_document,
    thirteenf_filings,
)
from finance_assets.edgar.holdings_reference import REFERENCE_13F_FILINGS, UNPLACED_13F_DOCUMENTS, recorded_document

LTS_COVER = "LTS_ONE_MANAGEMENT_CIK0001894188__2023Q3__primary_doc.xml"
LTS_TABLE = "LTS_ONE_MANAGEMENT_CIK0001894188__2023Q3__index.xml"
ACORN_COVER = "ACORN_CREEK_CAPITAL_CIK0001994827__2024Q4__primary_doc.xml"
ACORN_TABLE = "ACORN_CREEK_CAPITAL_CIK0001994827__2024Q4__F_13F_AcornCreek_Q42024.xml"
METLIFE_COVER = "METLIFE_CIK0001099219__2021Q4__primary_doc.xml"
ABACUS_COVER = "ABACUS_WEALTH__2020Q4__primary_doc.xml"
UNKNOWN_TABLE = "unknown_manager__13F-HR.infotable.xml"


@pytest.fixture(scope="module")
def recorded(replay_dir: Path):
    folder = replay_dir / "edgar" / "13f"

    def read(name: str) -> bytes:
        return (folder / name).read_bytes()

    return read


def test_lts_one_cover_page_declares_14_entries_worth_454926000(recorded) -> None:
    # 0001894188-23-000007, LTS One Management LP, 13F-HR for 2023-09-30, signed 2023-11-14
    cover = parse_cover_page(recorded(LTS_COVER))
    assert cover["filer_cik"] == "0001894188"
    assert cover["manager_name"] == "LTS One Management LP"
    assert cover["submission_type"] == "13F-HR"
    assert cover["report_calendar_or_quarter"] == cover["period_of_report"] == date(2023, 9, 30)
    assert cover["report_type"] == "13F HOLDINGS REPORT"
    assert (cover["table_entry_total"], cover["table_value_total"]) == (14, 454_926_000)
    assert cover["signature_date"] == date(2023, 11, 14)
    assert cover["is_confidential_omitted"] is False


def test_metlife_combination_report_cover_page(recorded) -> None:
    # 0001140361-23-013281, METLIFE INC, 13F COMBINATION REPORT for 2021-12-31 signed 2023-03-22
    cover = parse_cover_page(recorded(METLIFE_COVER))
    assert cover["report_type"] == "13F COMBINATION REPORT"
    assert cover["is_amendment"] is False
    assert cover["other_managers_reporting"] == 3  # PROVIDA, METROPOLITAN LIFE, MetLife Investment Management
    assert (cover["table_entry_total"], cover["table_value_total"]) == (6, 11_019_796)
    assert cover["report_calendar_or_quarter"] == date(2021, 12, 31)
    assert cover["signature_date"] == date(2023, 3, 22)


def test_abacus_cover_page_parses_although_it_is_never_loaded(recorded) -> None:
    # Abacus Wealth Partners (CIK 0001978011), 2020-12-31: 92 entries, 114,663,960, signed 2023-05-31
    cover = parse_cover_page(recorded(ABACUS_COVER))
    assert (cover["filer_cik"], cover["table_entry_total"], cover["table_value_total"]) == (
        "0001978011",
        92,
        114_663_960,
    )
    assert cover["signature_date"] == date(2023, 5, 31)
    assert ABACUS_COVER in UNPLACED_13F_DOCUMENTS  # no accession number: no EDGAR URL to load it from


def test_prefixed_namespace_information_table_of_lts_one(recorded) -> None:
    # <ns1:informationTable xmlns:ns1=...>; 14 holdings, value sum 454,926,000 (replay README)
    table = parse_information_table(recorded(LTS_TABLE))
    assert table.num_rows == 14
    assert pc.sum(table["value_reported"]).as_py() == 454_926_000
    first = table.slice(0, 1).to_pylist()[0]
    assert first == {
        "row_number": 1,
        "name_of_issuer": "AMAZON COM INC",
        "title_of_class": "COM",
        "cusip": "023135106",
        "figi": None,
        "value_reported": 17_479_000,
        "shares_or_principal": 137_500,
        "shares_or_principal_type": "SH",
        "put_call": None,
        "investment_discretion": "SOLE",
        "other_manager": None,
        "voting_sole": 137_500,
        "voting_shared": 0,
        "voting_none": 0,
    }


def test_prefixed_namespace_information_table_of_acorn_creek(recorded) -> None:
    # 0001951757-25-000093 (indented on one line); 77 holdings, value sum 194,611,845 (replay README)
    table = parse_information_table(recorded(ACORN_TABLE))
    assert table.num_rows == 77
    assert pc.sum(table["value_reported"]).as_py() == 194_611_845
    apple = [r for r in table.to_pylist() if r["cusip"] == "037833100"]
    assert [(r["row_number"], r["name_of_issuer"], r["value_reported"], r["shares_or_principal"]) for r in apple] == [
        (8, "APPLE INC", 4_652_092, 18_577)
    ]
    assert apple[0]["voting_none"] == 18_577


def test_default_namespace_information_table_of_the_unknown_manager(recorded) -> None:
    # <informationTable xmlns=...>; 255 holdings, value sum 350,153,407 (replay README), shares and principal
    table = parse_information_table(recorded(UNKNOWN_TABLE))
    assert table.num_rows == 255
    assert pc.sum(table["value_reported"]).as_py() == 350_153_407
    first = table.slice(0, 1).to_pylist()[0]
    assert (first["name_of_issuer"], first["cusip"], first["value_reported"], first["shares_or_principal"]) == (
        "3M CO",
        "88579Y101",
        409_469,
        2_334,
    )
    assert set(table["shares_or_principal_type"].to_pylist()) == {"SH", "PRN"}


def test_both_namespace_spellings_of_one_document_give_the_same_rows(recorded) -> None:
    prefixed = recorded(LTS_TABLE)
    default = prefixed.replace(b"xmlns:ns1=", b"xmlns=").replace(b"<ns1:", b"<").replace(b"</ns1:", b"</")
    assert b"ns1:" not in default
    assert parse_information_table(default).equals(parse_information_table(prefixed))


def test_a_cover_page_is_not_an_information_table(recorded) -> None:
    with pytest.raises(WrongDocumentError, match="expected <informationTable>"):
        parse_information_table(recorded(LTS_COVER))


def test_edgars_folder_listing_in_place_of_a_document_is_recognised() -> None:
    # what https://www.sec.gov/Archives/edgar/data/1894188/000189418823000007/index.xml answers (the filer
    # named its information table index.xml; shape quoted in edgartools' test_thirteenf.py)
    listing = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<directory>\n<name>/Archives/edgar/data</name>\n'
        b'<item>\n<name type="text.gif">0001894188-23-000007-index-headers.html</name>\n</item>\n</directory>'
    )
    with pytest.raises(ShadowedDocumentError):
        parse_information_table(listing, what="13F information table index.xml")


def test_the_information_table_is_taken_from_a_full_submission_text(recorded) -> None:
    # the SGML layout of https://www.sec.gov/Archives/edgar/data/<cik>/<folder>/<accession>.txt
    text = (
        b"<SEC-DOCUMENT>0001894188-23-000007.txt : 20231114\n<SEC-HEADER>\nACCESSION NUMBER:\t\t0001894188-23-000007\n"
        b"</SEC-HEADER>\n<DOCUMENT>\n<TYPE>13F-HR\n<SEQUENCE>1\n<FILENAME>primary_doc.xml\n<TEXT>\n<XML>\n"
        + recorded(LTS_COVER)
        + b"\n</XML>\n</TEXT>\n</DOCUMENT>\n<DOCUMENT>\n<TYPE>INFORMATION TABLE\n<SEQUENCE>2\n<FILENAME>index.xml\n"
        b"<TEXT>\n<XML>\n" + recorded(LTS_TABLE) + b"\n</XML>\n</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n"
    )
    name, xml = submission_document(text)
    assert name == "index.xml"
    assert parse_information_table(xml).num_rows == 14


def test_a_malformed_value_names_the_entry_and_field(recorded) -> None:
    bad = recorded(LTS_TABLE).replace(b"<ns1:value>17479000</ns1:value>", b"<ns1:value>17,479</ns1:value>")
    with pytest.raises(PayloadError, match=r"entry 1: value '17,479' is not a non-negative integer"):
        parse_information_table(bad, what="13F information table (test)")


def test_broken_xml_names_the_document() -> None:
    with pytest.raises(PayloadError, match="13F cover page https://example/primary_doc.xml is not well-formed XML"):
        parse_cover_page(b"<edgarSubmission><headerData>", what="13F cover page https://example/primary_doc.xml")


def test_filing_keys_carry_manager_and_accession() -> None:
    # Acorn Creek (CIK 1994827) filed 0001951757-25-000093 through agent 0001951757
    assert filing_key("1994827", "0001951757-25-000093") == "0001994827/0001951757-25-000093"
    assert split_filing_key("0001994827/0001951757-25-000093") == ("0001994827", "0001951757-25-000093")
    with pytest.raises(ValueError, match="expected <manager CIK>/<accession number>"):
        split_filing_key("0001951757-25-000093")
    with pytest.raises(ValueError, match="Malformed accession number"):
        split_filing_key("0001994827/1951757-25-93")


def test_folder_listing_names_the_information_table_candidates() -> None:
    listing = {
        "directory": {
            "item": [
                {"name": "0001951757-25-000093.txt", "type": "text.gif"},
                {"name": "F_13F_AcornCreek_Q42024.xml", "type": "text.gif"},
                {"name": "primary_doc.xml", "type": "text.gif"},
                {"name": "xslForm13F_X02", "type": "folder.gif"},
            ],
            "name": "/Archives/edgar/data/1994827/000195175725000093",
        }
    }
    documents = filing_documents(listing)
    assert documents.primary == "primary_doc.xml"
    assert documents.information_table_candidates == ("F_13F_AcornCreek_Q42024.xml",)
    with pytest.raises(PayloadError, match="not an EDGAR folder listing"):
        filing_documents({"filings": []})


def test_discovery_keeps_the_13f_filings_of_berkshires_recorded_submissions_index(replay_dir: Path) -> None:
    # edgar/submissions/CIK0001067983.json lists 40 13F-HR and 5 13F-HR/A filings in filings.recent
    doc = json.loads((replay_dir / "edgar" / "submissions" / "CIK0001067983.json").read_text())
    table = thirteenf_filings([("recent", doc["filings"]["recent"], "sha")], cik="0001067983", manager_name=doc["name"])
    forms = table["form"].to_pylist()
    assert (forms.count("13F-HR"), forms.count("13F-HR/A")) == (40, 5)
    rows = {r["accession_number"]: r for r in table.to_pylist()}
    # the first report filed after the unit change (dollars) and the last one before it (thousands)
    assert (rows["0000950123-23-002585"]["filing_date"], rows["0000950123-23-002585"]["report_date"]) == (
        date(2023, 2, 14),
        date(2022, 12, 31),
    )
    assert rows["0000950123-22-012275"]["filing_date"] == date(2022, 11, 14)
    assert rows["0000950123-23-002585"]["filing_key"] == "0001067983/0000950123-23-002585"
    assert all(table["has_xml_documents"].to_pylist())  # all from 2016 on: xslForm13F_X0N/primary_doc.xml


def test_text_era_13f_filings_are_listed_but_marked_without_xml_documents(replay_dir: Path) -> None:
    doc = json.loads((replay_dir / "edgar" / "submissions" / "CIK0001067983.json").read_text())
    columns = {name: list(values) for name, values in doc["filings"]["recent"].items()}
    first = columns["form"].index("13F-HR")
    columns["primaryDocument"][first] = "form13fhr.txt"  # how a pre-2013 text report would be listed
    table = thirteenf_filings([("recent", columns, "sha")], cik="0001067983", manager_name=doc["name"])
    assert table["has_xml_documents"].to_pylist().count(False) == 1


def test_reference_filings_route_to_their_recorded_documents(replay_dir: Path) -> None:
    for filing in REFERENCE_13F_FILINGS:
        folder = filing.accession.replace("-", "")
        for document, recorded_name in filing.documents.items():
            path = recorded_document(str(int(filing.cik)), folder, document)
            assert path is not None and (replay_dir / path).is_file(), (filing.key, document)
            assert recorded_name in path
        assert recorded_document(filing.cik, folder, "index.json") is None  # folder listings are not recorded
    recorded_names = {p.name for p in (replay_dir / "edgar" / "13f").iterdir()}
    placed = {name for f in REFERENCE_13F_FILINGS for name in f.documents.values() if name}
    assert recorded_names == placed | set(UNPLACED_13F_DOCUMENTS)  # every recorded document is accounted for


def test_the_signature_date_fallback_agrees_with_the_cited_filing_dates(recorded) -> None:
    # Silver falls back to the signature date when a filing's EDGAR date is not loaded; on every recorded
    # filing the report was signed on or before it was filed, and both dates give the same unit (dollars)
    for filing in REFERENCE_13F_FILINGS:
        cover = parse_cover_page(recorded(filing.documents["primary_doc.xml"]))
        assert cover["report_calendar_or_quarter"] == filing.period
        assert cover["signature_date"] <= filing.filing_date
        assert (cover["signature_date"] >= date(2023, 1, 3)) == (filing.filing_date >= date(2023, 1, 3))
