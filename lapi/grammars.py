"""Per-country licence-plate grammars as fixed-length templates of per-position allowed characters.

An OCR decoder that only ever emits strings valid under one of these templates cannot produce
"G8-O73-KP"-style reads: each position is constrained to the characters a real plate of that
format can carry, and ``rule`` rejects the combinations the issuing authority never hands out.
The same templates synthesise training plates and format reads for display.

All texts are normalised plate strings (upper-case A-Z0-9, no separators, see
:func:`lapi.plates.normalise_plate`). Pure code, no I/O.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from lapi.plates import normalise_plate

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
ALNUM = DIGITS + LETTERS

GENERIC = "ZZ"  # pseudo-country of the catch-all templates

_NONZERO = "123456789"


def _without(chars: str, excluded: str) -> str:
    return "".join(c for c in chars if c not in excluded)


@dataclass(frozen=True)
class PlateFormat:
    """One fixed-length plate template: the allowed characters of each position plus an extra rule.

    Fixed length keeps the decoder simple (one alignment per template); formats whose length
    varies are several templates sharing ``country`` and ``name``.
    """

    country: str
    name: str
    slots: tuple[str, ...]
    groups: tuple[int, ...]
    separator: str = "-"
    prior: float = 1.0
    rule: Callable[[str], bool] | None = None
    two_line_split: int | None = None

    def __post_init__(self) -> None:
        # A malformed template would silently make some plates unreadable: fail at import instead.
        label = f"{self.country} {self.name}"
        if not self.slots:
            raise ValueError(f"{label}: no slots")
        for slot in self.slots:
            if not slot or not set(slot) <= set(ALNUM) or len(set(slot)) != len(slot):
                raise ValueError(f"{label}: bad slot {slot!r}")
        if any(g <= 0 for g in self.groups) or sum(self.groups) != len(self.slots):
            raise ValueError(f"{label}: groups {self.groups} do not cover {len(self.slots)} slots")
        if not self.prior > 0:
            raise ValueError(f"{label}: prior must be > 0")
        if self.two_line_split is not None and not 0 < self.two_line_split < len(self.slots):
            raise ValueError(f"{label}: two_line_split {self.two_line_split} out of range")

    @property
    def length(self) -> int:
        return len(self.slots)

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is a plate this template can have issued."""
        if len(text) != len(self.slots):
            return False
        if not all(ch in allowed for ch, allowed in zip(text, self.slots)):
            return False
        return self.rule is None or self.rule(text)

    def display(self, text: str) -> str:
        """The text as printed on the plate: ``'GV073KP'`` -> ``'GV-073-KP'``.

        Raises ValueError for a text the template does not accept, so a wrong grouping is never shown.
        """
        if not self.accepts(text):
            raise ValueError(f"{text!r} is not a valid {self.country} {self.name} plate")
        parts = []
        start = 0
        for size in self.groups:
            parts.append(text[start:start + size])
            start += size
        return self.separator.join(parts)

    def random_text(self, rng: random.Random, max_tries: int = 10_000) -> str:
        """A random valid text: each slot drawn uniformly, rejected and redrawn until ``rule`` holds.

        Rules reject a small share of draws (slots are already narrowed), so this is near-uniform
        over valid texts; running out of tries means a rule contradicts its slots.
        """
        for _ in range(max_tries):
            text = "".join(rng.choice(slot) for slot in self.slots)
            if self.rule is None or self.rule(text):
                return text
        raise RuntimeError(f"{self.country} {self.name}: no valid text in {max_tries} draws")


def _digit_runs(text: str) -> list[str]:
    return ["".join(run) for is_digit, run in itertools.groupby(text, str.isdigit) if is_digit]


def _code_slots(codes: Iterable[str], size: int) -> tuple[str, ...]:
    """Per-position character sets of a list of region codes of one length (narrows the slots;
    membership itself is checked by the rule)."""
    chosen = [c for c in codes if len(c) == size]
    return tuple("".join(sorted({c[i] for c in chosen})) for i in range(size))


def _normalise_priors(formats: list[PlateFormat]) -> tuple[PlateFormat, ...]:
    """Make a country's template priors sum to 1, so they read as P(template | country)."""
    total = sum(f.prior for f in formats)
    return tuple(replace(f, prior=f.prior / total) for f in formats)


# --- France ------------------------------------------------------------------------------------
# SIV (2009-): I, O, U never used (confusable with 1, 0, V); "SS" banned by law in both letter
# blocks; "WW" first block reserved for temporary registrations; digit block starts at 001.
_SIV_LETTERS = _without(LETTERS, "IOU")
# FNI (1950-2009): I and O not used in the letter series.
_FNI_LETTERS = _without(LETTERS, "IO")
_FNI_OVERSEAS = ("971", "972", "973", "974", "975", "976")


def _siv_rule(text: str) -> bool:
    return text[2:5] != "000" and text[:2] not in ("SS", "WW") and text[5:] != "SS"


def _siv_temporary_rule(text: str) -> bool:
    return text[2:5] != "000" and text[5:] != "SS"


def _w_garage_rule(text: str) -> bool:
    return text[1:4] != "000" and text[4:] != "SS"


def _fni_department_ok(dept: str) -> bool:
    """Metropolitan 01-95 (20 split into 2A/2B in 1976) or overseas 971-976."""
    if dept in ("2A", "2B") or dept in _FNI_OVERSEAS:
        return True
    return len(dept) == 2 and dept.isdigit() and 1 <= int(dept) <= 95 and dept != "20"


def _fni_rule(text: str) -> bool:
    return _fni_department_ok(text[-2:])


def _france() -> tuple[PlateFormat, ...]:
    formats = [
        PlateFormat("FR", "SIV", (_SIV_LETTERS,) * 2 + (DIGITS,) * 3 + (_SIV_LETTERS,) * 2,
                    (2, 3, 2), "-", 0.85, _siv_rule, two_line_split=5),
        PlateFormat("FR", "SIV-temporary", ("W", "W") + (DIGITS,) * 3 + (_SIV_LETTERS,) * 2,
                    (2, 3, 2), "-", 0.02, _siv_temporary_rule, two_line_split=5),
        PlateFormat("FR", "W-garage", ("W",) + (DIGITS,) * 3 + (_SIV_LETTERS,) * 2,
                    (1, 3, 2), "-", 0.01, _w_garage_rule, two_line_split=4),
    ]
    # FNI still circulates (unsold pre-2009 vehicles): 4-digit numbers and 2-letter series dominate.
    number_w = {1: 0.02, 2: 0.08, 3: 0.20, 4: 0.70}
    letters_w = {1: 0.05, 2: 0.75, 3: 0.20}
    for n, nw in number_w.items():
        for k, kw in letters_w.items():
            head = (_NONZERO,) + (DIGITS,) * (n - 1) + (_FNI_LETTERS,) * k
            formats.append(PlateFormat("FR", "FNI", head + (DIGITS, DIGITS + "AB"), (n, k, 2), " ",
                                       0.12 * nw * kw * 0.97, _fni_rule, two_line_split=n + k))
            formats.append(PlateFormat("FR", "FNI", head + ("9", "7", "123456"), (n, k, 3), " ",
                                       0.12 * nw * kw * 0.03, None, two_line_split=n + k))
    return _normalise_priors(formats)


# --- Belgium -----------------------------------------------------------------------------------
def _belgium() -> tuple[PlateFormat, ...]:
    return _normalise_priors([
        PlateFormat("BE", "current", (_NONZERO,) + (LETTERS,) * 3 + (DIGITS,) * 3, (1, 3, 3), "-", 0.70),
        PlateFormat("BE", "1973", (LETTERS,) * 3 + (DIGITS,) * 3, (3, 3), "-", 0.20),
        PlateFormat("BE", "2008", (DIGITS,) * 3 + (LETTERS,) * 3, (3, 3), "-", 0.10),
    ])


# --- Germany -----------------------------------------------------------------------------------
# One-letter districts are the big cities only (A Augsburg, B Berlin, ... Z Zwickau).
_DE_ONE_LETTER_DISTRICTS = "ABCDEFGHJKLMNPRSVWZ"
_DE_BANNED_LETTERS = frozenset({"HJ", "KZ", "NS", "SA", "SS"})  # Nazi-era abbreviations, never issued


def _de_rule(district: int) -> Callable[[str], bool]:
    def rule(text: str) -> bool:
        return text[district:district + 2] not in _DE_BANNED_LETTERS
    return rule


def _germany() -> tuple[PlateFormat, ...]:
    district_w = {1: 0.20, 2: 0.45, 3: 0.35}
    letters_w = {1: 0.30, 2: 0.70}
    number_w = {1: 0.04, 2: 0.12, 3: 0.30, 4: 0.54}
    suffix_w = {0: 0.97, 1: 0.03}  # trailing E (electric) or H (historic)
    formats = []
    for d, dw in district_w.items():
        district = (_DE_ONE_LETTER_DISTRICTS,) if d == 1 else (LETTERS,) * d
        for k, kw in letters_w.items():
            for n, nw in number_w.items():
                for s, sw in suffix_w.items():
                    if d + k + n + s > 8:  # the plate has room for 8 characters at most
                        continue
                    slots = district + (LETTERS,) * k + (_NONZERO,) + (DIGITS,) * (n - 1) + ("EH",) * s
                    formats.append(PlateFormat("DE", "standard", slots, (d, k, n + s), " ",
                                               dw * kw * nw * sw, _de_rule(d), two_line_split=d + k))
    return _normalise_priors(formats)


# --- Netherlands -------------------------------------------------------------------------------
# Vowels dropped from sidecode 4 (no accidental words), C and Q never (look like 0), Y gone from 7.
_NL_LETTERS_OLD = "ABDEFGHJKLMNPRSTUVXZ"
_NL_LETTERS_4_6 = "BDFGHJKLNPRSTVXYZ"
_NL_LETTERS_NEW = "BDFGHJKLNPRSTVXZ"
_NL_BANNED_WORDS = frozenset({"GVD", "KKK", "KVT", "LPF", "NSB", "PKK", "PSV", "PVV", "SGP", "TBS", "VVD"})
_NL_SIDECODES = (  # (sidecode, layout, prior): today's fleet is mostly sidecodes 6-10
    (1, "XX-99-99", 0.005), (2, "99-99-XX", 0.005), (3, "99-XX-99", 0.01), (4, "XX-99-XX", 0.03),
    (5, "XX-XX-99", 0.06), (6, "99-XX-XX", 0.12), (7, "99-XXX-9", 0.13), (8, "9-XXX-99", 0.17),
    (9, "XX-999-X", 0.13), (10, "X-999-XX", 0.18), (11, "XXX-99-X", 0.06), (13, "9-XX-999", 0.03),
    (14, "999-XX-9", 0.01),
)


def _nl_rule(groups: tuple[int, ...]) -> Callable[[str], bool]:
    def rule(text: str) -> bool:
        start = 0
        for size in groups:
            part = text[start:start + size]
            start += size
            if part.isdigit():
                if size > 1 and part.strip("0") == "":  # number pairs run 01-99
                    return False
            elif "SS" in part or "SD" in part or part in _NL_BANNED_WORDS:
                return False
        return True
    return rule


def _netherlands() -> tuple[PlateFormat, ...]:
    formats = []
    for code, layout, prior in _NL_SIDECODES:
        letters = _NL_LETTERS_OLD if code <= 3 else _NL_LETTERS_4_6 if code <= 6 else _NL_LETTERS_NEW
        groups = tuple(len(g) for g in layout.split("-"))
        slots = tuple(letters if c == "X" else DIGITS for c in layout.replace("-", ""))
        formats.append(PlateFormat("NL", f"sidecode-{code}", slots, groups, "-", prior, _nl_rule(groups)))
    return _normalise_priors(formats)


# --- Spain -------------------------------------------------------------------------------------
_ES_CONSONANTS = _without(LETTERS, "AEIOUQ")  # current series: no vowels, no Q (nor Ñ)
_ES_PROVINCES = frozenset(
    "A B C H J L M O P S T V Z AB AL AV BA BI BU CA CC CE CO CR CS CU GC GE GI GR GU HU IB LE LO "
    "LU MA ML MU NA OR OU PM PO SA SE SG SO SS TE TF TO VA VI ZA".split())


def _es_province_rule(size: int) -> Callable[[str], bool]:
    def rule(text: str) -> bool:
        return text[:size] in _ES_PROVINCES
    return rule


def _spain() -> tuple[PlateFormat, ...]:
    formats = [PlateFormat("ES", "current", (DIGITS,) * 4 + (_ES_CONSONANTS,) * 3, (4, 3), " ", 0.85,
                           two_line_split=4)]
    series = _without(LETTERS, "Q")
    for p in (1, 2):
        for s, sw in ((1, 0.3), (2, 0.7)):
            slots = _code_slots(_ES_PROVINCES, p) + (DIGITS,) * 4 + (series,) * s
            formats.append(PlateFormat("ES", "provincial", slots, (p, 4, s), " ", 0.15 * 0.5 * sw,
                                       _es_province_rule(p), two_line_split=p + 4))
    return _normalise_priors(formats)


# --- Italy -------------------------------------------------------------------------------------
_IT_LETTERS = _without(LETTERS, "IOQU")


def _italy() -> tuple[PlateFormat, ...]:
    return _normalise_priors([
        PlateFormat("IT", "standard", (_IT_LETTERS,) * 2 + (DIGITS,) * 3 + (_IT_LETTERS,) * 2,
                    (2, 3, 2), " ", 0.85),
        PlateFormat("IT", "motorcycle", (_IT_LETTERS,) * 2 + (DIGITS,) * 5, (2, 5), " ", 0.15,
                    two_line_split=2),
    ])


# --- United Kingdom ----------------------------------------------------------------------------
_GB_REGION = "ABCDEFGHKLMNOPRSVWY"  # first memory-tag letter: DVLA region
_GB_LOCAL = _without(LETTERS, "IQZ")
_GB_RANDOM = _without(LETTERS, "IQ")
_GB_AGE_LETTER = _without(LETTERS, "IOQUZ")  # prefix/suffix year letters
_GB_SERIES = _without(LETTERS, "IQZ")  # I and Z belong to Northern Ireland


def _gb_current_rule(text: str) -> bool:
    # Age identifier: March = year (02..), September = year + 50 (51..); 00, 01, 50 never issued.
    return text[2:4] not in ("00", "01", "50")


def _united_kingdom() -> tuple[PlateFormat, ...]:
    formats = [PlateFormat("GB", "current", (_GB_REGION, _GB_LOCAL, DIGITS, DIGITS) + (_GB_RANDOM,) * 3,
                           (4, 3), " ", 0.88, _gb_current_rule, two_line_split=4)]
    number_w = {1: 0.05, 2: 0.20, 3: 0.75}
    for n, nw in number_w.items():
        number = (_NONZERO,) + (DIGITS,) * (n - 1)
        formats.append(PlateFormat("GB", "prefix", (_GB_AGE_LETTER,) + number + (_GB_SERIES,) * 3,
                                   (1 + n, 3), " ", 0.10 * nw, two_line_split=1 + n))
        formats.append(PlateFormat("GB", "suffix", (_GB_SERIES,) * 3 + number + (_GB_AGE_LETTER,),
                                   (3, n + 1), " ", 0.02 * nw, two_line_split=3))
    return _normalise_priors(formats)


# --- Poland ------------------------------------------------------------------------------------
_PL_VOIVODESHIPS = "BCDEFGKLNOPRSTWZ"
_PL_SERIES_LETTERS = _without(LETTERS, "BDIOZ")  # confusable with 8, 0, 1, 0, 2
# Series layouts of the 2002 regulation: after a 2-letter district (5 characters, always starting
# with a digit) or a 3-letter district (4 characters). 9 = digit, X = letter.
_PL_SERIES = {
    2: (("99999", 0.30), ("9999X", 0.12), ("999XX", 0.07), ("9X999", 0.04), ("9XX99", 0.02)),
    3: (("X999", 0.15), ("99XX", 0.12), ("9X99", 0.08), ("99X9", 0.05), ("9XX9", 0.05)),
}


def _pl_rule(district: int) -> Callable[[str], bool]:
    def rule(text: str) -> bool:  # every number in the series starts at 1 (00001, 01, 1 ...)
        return all(run.strip("0") for run in _digit_runs(text[district:]))
    return rule


def _poland() -> tuple[PlateFormat, ...]:
    formats = []
    for d, layouts in _PL_SERIES.items():
        district = (_PL_VOIVODESHIPS,) + (LETTERS,) * (d - 1)
        for layout, prior in layouts:
            series = tuple(_PL_SERIES_LETTERS if c == "X" else DIGITS for c in layout)
            formats.append(PlateFormat("PL", "standard", district + series, (d, len(layout)), " ",
                                       prior, _pl_rule(d)))
    return _normalise_priors(formats)


# --- Czechia, Slovakia -------------------------------------------------------------------------
_CZ_REGIONS = "ABCEHJKLMPSTUZ"
_CZ_SERIES = DIGITS + _without(LETTERS, "GOQW")


def _czechia() -> tuple[PlateFormat, ...]:
    return _normalise_priors([
        PlateFormat("CZ", "standard", (_NONZERO, _CZ_REGIONS, _CZ_SERIES) + (DIGITS,) * 4, (3, 4), " ",
                    two_line_split=3),
    ])


def _slovakia() -> tuple[PlateFormat, ...]:
    # 1997-2022 district plates and the 2023 non-regional ones share the layout LL-999LL.
    return _normalise_priors([
        PlateFormat("SK", "standard", (LETTERS,) * 2 + (DIGITS,) * 3 + (LETTERS,) * 2, (2, 5), "-"),
    ])


# --- Romania -----------------------------------------------------------------------------------
_RO_COUNTIES = frozenset(
    "AB AG AR BC BH BN BR BT BV BZ CJ CL CS CT CV DB DJ GJ GL GR HD HR IF IL IS MH MM MS NT OT PH "
    "SB SJ SM SV TL TM TR VL VN VS".split())
_RO_LETTERS = (_without(LETTERS, "IOQ"),) + (_without(LETTERS, "Q"),) * 2  # no Q; never starts I/O


def _ro_county_rule(text: str) -> bool:
    return text[:2] in _RO_COUNTIES and text[2:4] != "00"


def _ro_bucharest_rule(text: str) -> bool:
    return text[1:3] != "00"


def _romania() -> tuple[PlateFormat, ...]:
    return _normalise_priors([
        PlateFormat("RO", "county", _code_slots(_RO_COUNTIES, 2) + (DIGITS,) * 2 + _RO_LETTERS,
                    (2, 2, 3), " ", 0.80, _ro_county_rule),
        PlateFormat("RO", "Bucharest", ("B",) + (DIGITS,) * 2 + _RO_LETTERS, (1, 2, 3), " ", 0.08,
                    _ro_bucharest_rule),
        PlateFormat("RO", "Bucharest", ("B", _NONZERO, DIGITS, DIGITS) + _RO_LETTERS, (1, 3, 3), " ", 0.12),
    ])


# --- Generic fallback --------------------------------------------------------------------------
def _generic() -> tuple[PlateFormat, ...]:
    # Unknown countries and vanity plates: anything of plausible length, ranked below everything.
    return tuple(PlateFormat(GENERIC, "generic", (ALNUM,) * n, (n,), "", 0.01) for n in range(4, 11))


FORMATS: dict[str, tuple[PlateFormat, ...]] = {
    "FR": _france(),
    "BE": _belgium(),
    "DE": _germany(),
    "ES": _spain(),
    "IT": _italy(),
    "GB": _united_kingdom(),
    "NL": _netherlands(),
    "PL": _poland(),
    "CZ": _czechia(),
    "SK": _slovakia(),
    "RO": _romania(),
    GENERIC: _generic(),
}

# How often each country's plates pass a French camera. Template priors are only comparable within
# a country (a country with a single template has prior 1); these weights make them comparable
# across countries, so an LL999LL read is French SIV before Italian or Slovak.
# Czech and Slovak vans and lorries are no rarer than Romanian ones on the roads to the Channel:
# at 0.002 / 0.001 (no likelier than no format at all) a Slovak RK-857AI, whose I French SIV
# excludes, was read as the French RK-857-AT.  Raised to 0.005 (openalpr_eu 0.824 -> 0.870,
# fr_dev unchanged from 0.005 to 0.01; at 0.02 French Q plates whose Q looks like an O turn Slovak).
COUNTRY_PRIORS: dict[str, float] = {
    "FR": 0.90, "BE": 0.02, "DE": 0.02, "ES": 0.015, "IT": 0.01, "NL": 0.01, "GB": 0.008,
    "PL": 0.006, "CZ": 0.005, "SK": 0.005, "RO": 0.004, GENERIC: 0.001,
}

_PRIOR_TOTALS = {code: sum(f.prior for f in formats) for code, formats in FORMATS.items()}


def overall_prior(fmt: PlateFormat) -> float:
    """P(country) x P(template | country): the weight to compare templates of different countries."""
    total = _PRIOR_TOTALS.get(fmt.country, fmt.prior)
    return COUNTRY_PRIORS.get(fmt.country, 0.0) * fmt.prior / total


def _country_codes(countries: Iterable[str]) -> list[str]:
    if isinstance(countries, str):  # "FR" alone, not the iterable "F", "R"
        countries = [countries]
    codes: list[str] = []
    for raw in countries:
        code = raw.upper()
        if code not in FORMATS:
            raise ValueError(f"unknown country code {raw!r} (known: {', '.join(FORMATS)})")
        if code not in codes:
            codes.append(code)
    return codes


def weights_for(countries: Iterable[str], base: Mapping[str, float] | None = None) -> dict[str, float]:
    """Prior weights restricted to ``countries``: their weight in ``base`` (default COUNTRY_PRIORS), else 1.

    Unknown codes raise ValueError naming them, as everywhere in this module.
    """
    base = COUNTRY_PRIORS if base is None else base
    return {code: base.get(code, COUNTRY_PRIORS.get(code, 1.0)) for code in _country_codes(countries)}


def formats_for(countries: Iterable[str] | None = None) -> list[PlateFormat]:
    """Templates of the given countries (None: all), generic fallback last so it only ever wins
    when no real format fits."""
    codes = list(FORMATS) if countries is None else _country_codes(countries)
    codes.sort(key=lambda c: c == GENERIC)
    return [f for code in codes for f in FORMATS[code]]


def matching_formats(text: str, countries: Iterable[str] | None = None) -> list[PlateFormat]:
    """All templates accepting ``text``, most probable first (by :func:`overall_prior`; generic last)."""
    found = [f for f in formats_for(countries) if f.accepts(text)]
    found.sort(key=lambda f: (f.country == GENERIC, -overall_prior(f)))
    return found


def guess_country(text: str, countries: Iterable[str] | None = None) -> str | None:
    """Country of the most probable real template accepting ``text``; None if only generic fits."""
    for fmt in matching_formats(text, countries):
        if fmt.country != GENERIC:
            return fmt.country
    return None


def display_plate(text: str, country: str | None = None) -> str:
    """``text`` as printed on its plate, using the most probable template (of ``country`` if given).

    Falls back to the bare normalised text when no template fits, so display never invents a grouping.
    """
    norm = normalise_plate(text)
    found = matching_formats(norm, None if country is None else [country])
    return found[0].display(norm) if found else norm


def random_plate_text(
    rng: random.Random,
    countries: Iterable[str] | None = None,
    weights: Mapping[str, float] | None = None,
) -> tuple[PlateFormat, str]:
    """A random (template, text) for synthesising training plates.

    The country is drawn by ``weights`` (default: equal over ``countries``, or over all real
    countries; countries missing from ``weights`` get 0), the template by its prior.
    """
    norm_weights = None if weights is None else {k.upper(): v for k, v in weights.items()}
    if countries is not None:
        codes = _country_codes(countries)
    elif norm_weights:
        codes = _country_codes(norm_weights)
    else:
        codes = [c for c in FORMATS if c != GENERIC]
    w = [1.0 if norm_weights is None else norm_weights.get(c, 0.0) for c in codes]
    if any(x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"country weights must be >= 0 with a positive total, got {dict(zip(codes, w))}")
    country = rng.choices(codes, weights=w)[0]
    candidates = FORMATS[country]
    fmt = rng.choices(candidates, weights=[f.prior for f in candidates])[0]
    return fmt, fmt.random_text(rng)
