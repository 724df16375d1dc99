"""UNIVERSE: which companies and price tickers the lakehouse loads, resolved once against SEC's ticker map.

``UNIVERSE`` is a comma list whose items may be

- a ticker (``AAPL``, ``brk.b`` -> ``BRK-B``) or a CIK (``320193``, ``0000320193``; becomes its ticker),
- a path to a file with one ticker or CIK per line (``#`` starts a comment),
- a named universe: ``sp500`` (the 482 S&P 500 members of ~2020 whose daily prices are recorded; the list
  ships with the package, ``edgar/data/sp500.csv``, so it also works live) or ``recorded`` (every company
  with recorded companyfacts under ``$REPLAY_DIR/edgar/companyfacts``; needs REPLAY_DIR).

Items combine (``recorded,sp500`` is the default). A ticker or CIK the user typed that SEC's map does not
know is an error before anything runs, naming it with close matches (:mod:`difflib`), unless
``UNIVERSE_SKIP_UNKNOWN=true`` skips it with a warning. Tickers of a *named* list that SEC's current map no
longer knows (delisted or renamed since 2020: ``FB``, ``CELG``...) are not errors: they keep their price
history (price-only members, no CIK) and are reported as unmapped.

Which companies the SEC and FMP jobs cover is decided here too (:func:`sec_covered`): live, every company
with a CIK; in replay, only those with a recorded SEC payload, so price-only tickers do not turn into
hundreds of replayed 404s.
"""

import csv
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from finance_assets.edgar.resources import SecEdgarResource

NAMED = ("recorded", "sp500")
SP500_FILE = Path(__file__).with_name("data") / "sp500.csv"
TICKERS_URL = "https://www.sec.gov/files/company_tickers.json"
TICKERS_EXCHANGE_URL = "https://www.sec.gov/files/company_tickers_exchange.json"
_CIK = re.compile(r"^\d{1,10}$")
_TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
_PAYLOAD = re.compile(r"^CIK(\d{10})(?:\.json|\.json\.gz)$")


class UniverseError(ValueError):
    """UNIVERSE names something that cannot be resolved; the message names each item and what to do."""


@dataclass(frozen=True)
class Member:
    """One member: its ticker (the company partition key and price symbol), CIK if SEC knows it, origin."""

    ticker: str
    cik: str | None
    origin: str  # "sp500", "recorded", "list" or the file it came from


@dataclass(frozen=True)
class Universe:
    """A resolved UNIVERSE, in the order given (first occurrence wins)."""

    members: tuple[Member, ...]
    unmapped: tuple[str, ...] = ()  # named-list tickers SEC's map does not know: price-only
    skipped: tuple[str, ...] = ()  # unknown items skipped under UNIVERSE_SKIP_UNKNOWN
    notes: tuple[str, ...] = field(default=())

    @property
    def tickers(self) -> list[str]:
        """Every member's ticker: what the prices load (plus the benchmark)."""
        return [m.ticker for m in self.members]

    @property
    def companies(self) -> list[str]:
        """Members with a CIK: the company partitions SEC's jobs can load."""
        return [m.ticker for m in self.members if m.cik]

    def cik(self, ticker: str) -> str | None:
        return next((m.cik for m in self.members if m.ticker == ticker), None)


def normalize_cik(value: str | int) -> str:
    return str(int(value)).zfill(10)


def sp500_tickers() -> list[str]:
    """The shipped S&P 500 list (``edgar/data/sp500.csv``)."""
    with SP500_FILE.open() as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return [row["ticker"].strip().upper() for row in rows if row["ticker"].strip()]


def recorded_ciks(replay_dir: Path, endpoint: str = "companyfacts") -> list[str]:
    """CIKs with a recorded ``endpoint`` payload (``companyfacts`` or ``submissions``) in the replay folder."""
    folder = Path(replay_dir) / "edgar" / endpoint
    found = {m.group(1) for p in folder.glob("CIK*") if (m := _PAYLOAD.match(p.name))}
    return sorted(found)


@dataclass(frozen=True)
class TickerMap:
    """SEC's ticker -> CIK map and its inverse (a CIK's first ticker in SEC's order is its primary one)."""

    cik_of: Mapping[str, str]
    ticker_of: Mapping[str, str]

    @classmethod
    def from_frame(cls, table: pl.DataFrame) -> "TickerMap":
        cik_of = dict(zip(table.get_column("ticker").to_list(), table.get_column("cik").to_list(), strict=True))
        return cls.from_pairs(cik_of.items())

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> "TickerMap":
        cik_of: dict[str, str] = {}
        ticker_of: dict[str, str] = {}
        for ticker, cik in pairs:
            cik_of.setdefault(ticker, cik)
            ticker_of.setdefault(cik, ticker)
        return cls(cik_of, ticker_of)

    def lookup(self, ticker: str) -> str | None:
        """The SEC ticker for ``ticker``: as given, or with ``.`` written ``-`` (SEC writes BRK-B)."""
        for candidate in (ticker, ticker.replace(".", "-")):
            if candidate in self.cik_of:
                return candidate
        return None


def primary_tickers(exchange_doc: Mapping, tickers_doc: Mapping | None) -> "TickerMap":
    """The map from SEC's two files, in SEC's order (largest first), so a CIK's first ticker is its main one."""
    idx = {name: i for i, name in enumerate(exchange_doc["fields"])}
    pairs = [(str(r[idx["ticker"]]).upper(), normalize_cik(r[idx["cik"]])) for r in exchange_doc["data"]]
    pairs += [(str(r["ticker"]).upper(), normalize_cik(r["cik_str"])) for r in (tickers_doc or {}).values()]
    return TickerMap.from_pairs(pairs)


def split_spec(spec: str) -> list[str]:
    """The items of a UNIVERSE string, stripped, empties dropped."""
    return [item.strip() for item in spec.split(",") if item.strip()]


def _is_path(item: str) -> bool:
    return "/" in item or item.endswith((".txt", ".csv", ".lst")) or Path(item).is_file()


def read_universe_file(path: Path) -> list[str]:
    """One ticker or CIK per line; ``#`` comments and blank lines ignored."""
    if not path.is_file():
        raise UniverseError(f"UNIVERSE names the file {path}, which does not exist (one ticker or CIK per line).")
    items = []
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        items += [t.strip() for t in text.replace(",", " ").split() if t.strip()]
    return items


def resolve(
    spec: str, tickers: TickerMap, *, replay_dir: Path | None = None, skip_unknown: bool = False
) -> tuple[Universe, list[str]]:
    """``spec`` against SEC's map: the universe and the warnings to show (skipped and unmapped tickers).

    Raises :class:`UniverseError` naming every unknown item (with close matches) unless ``skip_unknown``.
    """
    members: dict[str, Member] = {}
    unknown: list[str] = []
    unmapped: list[str] = []

    def add(ticker: str, cik: str | None, origin: str) -> None:
        members.setdefault(ticker, Member(ticker, cik, origin))

    def typed(item: str, origin: str) -> None:
        if _CIK.match(item):
            cik = normalize_cik(item)
            ticker = tickers.ticker_of.get(cik)
            add(ticker, cik, origin) if ticker else unknown.append(item)
            return
        symbol = item.upper()
        found = tickers.lookup(symbol) if _TICKER.match(symbol) else None
        add(found, tickers.cik_of[found], origin) if found else unknown.append(item)

    for item in split_spec(spec):
        name = item.lower()
        if name == "sp500":
            for symbol in sp500_tickers():
                found = tickers.lookup(symbol)
                if found:
                    add(found, tickers.cik_of[found], "sp500")
                else:  # delisted or renamed since the list was recorded: prices only
                    add(symbol, None, "sp500")
                    unmapped.append(symbol)
        elif name == "recorded":
            if replay_dir is None:
                raise UniverseError(
                    "UNIVERSE=recorded means the companies with recorded companyfacts, which needs REPLAY_DIR; "
                    "live, list the tickers (or use sp500)."
                )
            for cik in recorded_ciks(replay_dir):
                ticker = tickers.ticker_of.get(cik)
                if ticker:
                    add(ticker, cik, "recorded")
                else:
                    unknown.append(cik)
        elif _is_path(item):
            path = Path(item).expanduser()
            for entry in read_universe_file(path):
                typed(entry, str(path))
        else:
            typed(item, "list")

    warnings: list[str] = []
    if unknown:
        described = "; ".join(_describe_unknown(u, tickers) for u in unknown)
        if not skip_unknown:
            raise UniverseError(
                f"UNIVERSE has {len(unknown)} ticker(s)/CIK(s) SEC's ticker map does not know: {described}. "
                "Fix the spelling, or set UNIVERSE_SKIP_UNKNOWN=true to skip them with a warning."
            )
        warnings.append(f"skipped {len(unknown)} unknown UNIVERSE item(s) (UNIVERSE_SKIP_UNKNOWN): {described}")
    if unmapped:
        warnings.append(
            f"{len(unmapped)} sp500 ticker(s) are not in SEC's current ticker map (delisted or renamed): prices "
            f"only, no SEC data: {', '.join(unmapped)}"
        )
    universe = Universe(tuple(members.values()), tuple(unmapped), tuple(unknown) if skip_unknown else ())
    return universe, warnings


def _describe_unknown(item: str, tickers: TickerMap) -> str:
    if _CIK.match(item):
        return f"CIK {normalize_cik(item)} (no ticker)"
    # one edit away first (APPL -> AAPL, MSTF -> MSFT: difflib ranks those below shorter tickers), in SEC's
    # order (largest companies first), then difflib's closest
    symbol = item.upper()
    near = [t for t in tickers.cik_of if _one_edit(symbol, t)]
    close = list(dict.fromkeys([*near, *difflib.get_close_matches(symbol, list(tickers.cik_of), n=5, cutoff=0.6)]))[:5]
    return f"{item!r} (did you mean {', '.join(close)}?)" if close else f"{item!r} (no close match)"


def _one_edit(a: str, b: str) -> bool:
    """``b`` is one substitution, adjacent swap, insertion or deletion away from ``a``."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def sec_covered(universe: Universe, replay_dir: Path | None) -> list[str]:
    """The companies SEC's jobs load: live, every member with a CIK; in replay, those with a recorded payload.

    In replay a company without any recorded companyfacts or submissions would only produce replayed 404s
    (hundreds for sp500): those members land their prices and nothing from SEC.
    """
    if replay_dir is None:
        return universe.companies
    recorded = set(recorded_ciks(replay_dir, "companyfacts")) | set(recorded_ciks(replay_dir, "submissions"))
    return [m.ticker for m in universe.members if m.cik in recorded]


def fmp_covered(tickers: Sequence[str], replay_dir: Path | None) -> list[str]:
    """The companies FMP's job loads: live, all; in replay, those with a recorded FMP response."""
    if replay_dir is None:
        return list(tickers)
    recorded = {p.name.split("__", 1)[0] for p in (Path(replay_dir) / "fmp").glob("*/*__*")}
    return [t for t in tickers if t in recorded]


_RESOLVED: dict[tuple[str, bool, str | None], tuple[Universe, list[str]]] = {}


class UniverseResource(dg.ConfigurableResource):
    """UNIVERSE resolved against SEC's ticker map (fetched through the SEC resource: replayed or live).

    Resolved once per process and spec; sec_company_tickers registers its companies as company partitions,
    the prices asset loads every member's prices.
    """

    spec: str = Field(description="UNIVERSE: tickers, CIKs, file paths and named universes (recorded, sp500).")
    skip_unknown: bool = Field(default=False, description="Skip unknown tickers with a warning instead of failing.")
    replay_dir: str | None = Field(default=None, description="Replay folder (for `recorded`); None: live.")
    sec: dg.ResourceDependency[SecEdgarResource]

    def resolve(self, ticker_map: TickerMap | None = None) -> tuple[Universe, list[str]]:
        """The universe and its warnings; ``ticker_map`` defaults to SEC's, fetched once per process."""
        key = (self.spec, self.skip_unknown, self.replay_dir)
        if ticker_map is None and key in _RESOLVED:
            return _RESOLVED[key]
        if ticker_map is None:
            with self.sec.client() as client:
                exchange_doc, _ = client.get_json(TICKERS_EXCHANGE_URL)
                tickers_doc, _ = client.get_json(TICKERS_URL)
            _RESOLVED[key] = self.resolve(primary_tickers(exchange_doc, tickers_doc))
            return _RESOLVED[key]
        replay = Path(self.replay_dir) if self.replay_dir else None
        return resolve(self.spec, ticker_map, replay_dir=replay, skip_unknown=self.skip_unknown)

    def price_tickers(self) -> list[str]:
        """Every member's ticker (companies and price-only tickers); the benchmark is added by the prices asset."""
        return self.resolve()[0].tickers

    def sec_companies(self) -> list[str]:
        """The companies the SEC and FMP jobs cover (see :func:`sec_covered`)."""
        universe, _ = self.resolve()
        return sec_covered(universe, Path(self.replay_dir) if self.replay_dir else None)
