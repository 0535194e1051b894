"""Plate grammars: real plates accepted and displayed as printed, never-issued ones rejected."""

from __future__ import annotations

import random

import pytest

from lapi.grammars import (
    ALNUM,
    COUNTRY_PRIORS,
    FORMATS,
    GENERIC,
    PlateFormat,
    display_plate,
    formats_for,
    guess_country,
    matching_formats,
    overall_prior,
    random_plate_text,
)


def names(text: str, country: str) -> set[str]:
    return {f.name for f in matching_formats(text, [country])}


# (normalised text, country, template name, display form with that country)
REAL_PLATES = [
    ("GV073KP", "FR", "SIV", "GV-073-KP"),
    ("AA001AA", "FR", "SIV", "AA-001-AA"),
    ("WW123AB", "FR", "SIV-temporary", "WW-123-AB"),
    ("W123AB", "FR", "W-garage", "W-123-AB"),
    ("9343ZH68", "FR", "FNI", "9343 ZH 68"),
    ("1234AB2A", "FR", "FNI", "1234 AB 2A"),
    ("56XB2B", "FR", "FNI", "56 XB 2B"),
    ("123AB971", "FR", "FNI", "123 AB 971"),
    ("7ABC75", "FR", "FNI", "7 ABC 75"),
    ("1ABC123", "BE", "current", "1-ABC-123"),
    ("ABC123", "BE", "1973", "ABC-123"),
    ("123ABC", "BE", "2008", "123-ABC"),
    ("BA1234", "DE", "standard", "B A 1234"),
    ("BA12E", "DE", "standard", "B A 12E"),  # electric
    ("HHXY1234", "DE", "standard", None),  # "HH XY 1234" or "HHX Y 1234": ambiguous without a district list
    ("12XFB3", "NL", "sidecode-7", "12-XFB-3"),
    ("1KBB23", "NL", "sidecode-8", "1-KBB-23"),
    ("GBB01B", "NL", "sidecode-11", "GBB-01-B"),
    ("XP12JK", "NL", "sidecode-4", "XP-12-JK"),
    ("1234BCD", "ES", "current", "1234 BCD"),
    ("M1234AB", "ES", "provincial", "M 1234 AB"),
    ("GC5678Z", "ES", "provincial", "GC 5678 Z"),
    ("AB123CD", "IT", "standard", "AB 123 CD"),
    ("EX12345", "IT", "motorcycle", "EX 12345"),
    ("BD51SMR", "GB", "current", "BD51 SMR"),
    ("LV24ABZ", "GB", "current", "LV24 ABZ"),
    ("A123BCD", "GB", "prefix", "A123 BCD"),
    ("ABC123D", "GB", "suffix", "ABC 123D"),
    ("KR12345", "PL", "standard", "KR 12345"),
    ("WX1234F", "PL", "standard", "WX 1234F"),
    ("WPRA123", "PL", "standard", "WPR A123"),
    ("GDA12KL", "PL", "standard", "GDA 12KL"),
    ("1A23456", "CZ", "standard", "1A2 3456"),
    ("5TX1234", "CZ", "standard", "5TX 1234"),
    ("BA123AB", "SK", "standard", "BA-123AB"),
    ("B123ABC", "RO", "Bucharest", "B 123 ABC"),
    ("B12ABC", "RO", "Bucharest", "B 12 ABC"),
    ("CJ12ABC", "RO", "county", "CJ 12 ABC"),
]


@pytest.mark.parametrize(("text", "country", "name", "shown"), REAL_PLATES)
def test_real_plates_are_accepted_and_displayed(text: str, country: str, name: str,
                                                shown: str | None) -> None:
    assert name in names(text, country)
    best = matching_formats(text, [country])[0]
    assert best.country == country
    if shown is not None:
        assert display_plate(text, country) == shown
    assert best.display(text).replace(best.separator, "") == text


@pytest.mark.parametrize(("text", "country", "name"), [
    ("GI073KP", "FR", "SIV"),  # I never used
    ("GO073KP", "FR", "SIV"),  # O never used
    ("GV073KU", "FR", "SIV"),  # U never used
    ("AB000CD", "FR", "SIV"),  # digit block starts at 001
    ("SS123AB", "FR", "SIV"),  # SS banned
    ("AB123SS", "FR", "SIV"),
    ("WW123AB", "FR", "SIV"),  # WW is the temporary series
    ("WW123SS", "FR", "SIV-temporary"),
    ("W000AB", "FR", "W-garage"),
    ("123AB20", "FR", "FNI"),  # department 20 became 2A/2B
    ("123AB00", "FR", "FNI"),
    ("123AB96", "FR", "FNI"),
    ("123AB2C", "FR", "FNI"),
    ("123AB977", "FR", "FNI"),
    ("0123AB75", "FR", "FNI"),  # no leading zero
    ("12345AB75", "FR", "FNI"),  # 4 digits at most
    ("123ABCD75", "FR", "FNI"),  # 3 letters at most
    ("123IO75", "FR", "FNI"),
    ("0ABC123", "BE", "current"),
    ("ABCDEF12", "DE", "standard"),  # 6 letters: district 3 + 2 at most
    ("MAB12345", "DE", "standard"),  # 5 digits
    ("MA0123", "DE", "standard"),  # numbers have no leading zero
    ("ABCXY1234", "DE", "standard"),  # 9 characters
    ("XA1234", "DE", "standard"),  # X is no one-letter district (and "XA" leaves no letters)
    ("12AEB3", "NL", "sidecode-7"),  # vowels
    ("12XCB3", "NL", "sidecode-7"),  # C looks like 0
    ("12NSB3", "NL", "sidecode-7"),  # banned abbreviation
    ("XP00JK", "NL", "sidecode-4"),
    ("1234BCA", "ES", "current"),  # vowel
    ("1234BCQ", "ES", "current"),
    ("XX1234AB", "ES", "provincial"),  # not a province
    ("AB123CU", "IT", "standard"),
    ("AQ123CD", "IT", "standard"),
    ("IB51SMR", "GB", "current"),  # no I region
    ("BD01SMR", "GB", "current"),  # age 01 never issued
    ("BD50SMR", "GB", "current"),
    ("BD51SMQ", "GB", "current"),
    ("Z123BCD", "GB", "prefix"),  # Z never an age letter
    ("A012BCD", "GB", "prefix"),
    ("KR1234B", "PL", "standard"),  # B confusable with 8
    ("KR00000", "PL", "standard"),
    ("KRA1234", "PL", "standard"),  # 3-letter district: 4-character series with a letter
    ("AR12345", "PL", "standard"),  # A is no voivodeship
    ("0A23456", "CZ", "standard"),
    ("1D23456", "CZ", "standard"),  # D is no region
    ("1AO3456", "CZ", "standard"),
    ("XY12ABC", "RO", "county"),  # no such county
    ("CJ00ABC", "RO", "county"),
    ("CJ12IBC", "RO", "county"),  # never starts with I
    ("CJ12ABQ", "RO", "county"),
    ("B012ABC", "RO", "Bucharest"),
])
def test_never_issued_plates_are_rejected(text: str, country: str, name: str) -> None:
    assert name not in names(text, country)


def test_display_rejects_text_the_format_does_not_accept() -> None:
    siv = next(f for f in FORMATS["FR"] if f.name == "SIV")
    assert siv.display("GV073KP") == "GV-073-KP"
    with pytest.raises(ValueError):
        siv.display("GV073K")
    with pytest.raises(ValueError):
        siv.display("SS073KP")


def test_two_line_splits() -> None:
    fr = {f.name: f for f in FORMATS["FR"]}
    assert fr["SIV"].two_line_split == 5
    fni = matching_formats("9343ZH68", ["FR"])[0]
    assert fni.two_line_split == 6  # "9343ZH" over "68"
    assert matching_formats("BD51SMR", ["GB"])[0].two_line_split == 4
    de = matching_formats("BA1234", ["DE"])[0]
    assert de.two_line_split == 2


@pytest.mark.parametrize(("text", "expected"), [
    ("GV073KP", "FR"),  # also a valid Italian and Slovak layout: French traffic decides
    ("WW123AB", "FR"),
    ("9343ZH68", "FR"),
    ("1ABC123", "BE"),
    ("1234BCD", "ES"),
    ("BD51SMR", "GB"),
    ("12XFB3", "NL"),
    ("1A23456", "CZ"),
    ("IS12XYZ", "RO"),
    ("KR1234F", "PL"),
    ("BA1234", "DE"),
    ("Q1Q1Q1Q", None),  # only the generic fallback accepts it
    ("XQ7", None),  # nothing accepts it
])
def test_guess_country(text: str, expected: str | None) -> None:
    assert guess_country(text) == expected


def test_guess_country_restricted_to_given_countries() -> None:
    assert guess_country("GV073KP", ["IT"]) == "IT"
    assert guess_country("GV073KP", ["SK", "IT"]) == "IT"
    assert guess_country("GV073KP", ["BE"]) is None
    assert guess_country("B123ABC", ["RO"]) == "RO"


def test_matching_formats_orders_by_prior_and_puts_generic_last() -> None:
    found = matching_formats("GV073KP")
    assert [f.country for f in found[:3]] == ["FR", "IT", "SK"]
    assert found[-1].country == GENERIC
    weights = [overall_prior(f) for f in found if f.country != GENERIC]
    assert weights == sorted(weights, reverse=True)
    assert matching_formats("") == []


def test_display_plate_fallback_and_normalisation() -> None:
    assert display_plate("gv-073-kp") == "GV-073-KP"
    assert display_plate("Q1Q1Q1Q") == "Q1Q1Q1Q"  # generic only: unchanged
    assert display_plate("AB1") == "A B 1"  # Augsburg
    assert display_plate("q-1!") == "Q1"  # nothing accepts: normalised, no grouping invented
    assert display_plate("GV073KP", "IT") == "GV 073 KP"
    assert display_plate("GV073KP", "BE") == "GV073KP"


def test_formats_for() -> None:
    everything = formats_for()
    assert everything[-1].country == GENERIC
    assert {f.country for f in everything} == set(FORMATS)
    generic_start = next(i for i, f in enumerate(everything) if f.country == GENERIC)
    assert all(f.country == GENERIC for f in everything[generic_start:])
    assert [f.country for f in formats_for(["ZZ", "FR"])][-1] == GENERIC
    assert {f.country for f in formats_for(["fr"])} == {"FR"}
    assert {f.country for f in formats_for("BE")} == {"BE"}
    with pytest.raises(ValueError, match="XX"):
        formats_for(["FR", "XX"])
    with pytest.raises(ValueError, match="XX"):
        matching_formats("GV073KP", ["XX"])


def test_templates_are_consistent() -> None:
    total = sum(len(v) for v in FORMATS.values())
    assert total < 150
    assert set(COUNTRY_PRIORS) == set(FORMATS)
    for code, formats in FORMATS.items():
        assert formats, code
        for f in formats:
            assert f.country == code
            assert sum(f.groups) == len(f.slots)
            assert all(set(slot) <= set(ALNUM) for slot in f.slots)
            assert f.prior > 0
        if code != GENERIC:
            assert sum(f.prior for f in formats) == pytest.approx(1.0)
    generic = FORMATS[GENERIC]
    assert sorted(f.length for f in generic) == list(range(4, 11))
    best_generic = max(overall_prior(f) for f in generic)
    for code, formats in FORMATS.items():
        if code != GENERIC:
            assert max(overall_prior(f) for f in formats) > best_generic, code


def test_plate_format_validates_itself() -> None:
    with pytest.raises(ValueError):
        PlateFormat("XX", "bad", ("AB", "12"), (3,))
    with pytest.raises(ValueError):
        PlateFormat("XX", "bad", ("A-",), (1,))
    with pytest.raises(ValueError):
        PlateFormat("XX", "bad", ("A",), (1,), prior=0.0)
    with pytest.raises(ValueError):
        PlateFormat("XX", "bad", ("A", "1"), (2,), two_line_split=2)


def test_rule_is_applied() -> None:
    fmt = PlateFormat("XX", "even", ("12",), (1,), rule=lambda t: t == "2")
    assert fmt.accepts("2")
    assert not fmt.accepts("1")
    assert not fmt.accepts("3")
    assert not fmt.accepts("22")
    assert fmt.random_text(random.Random(0)) == "2"
    impossible = PlateFormat("XX", "never", ("12",), (1,), rule=lambda t: False)
    with pytest.raises(RuntimeError):
        impossible.random_text(random.Random(0), max_tries=50)


@pytest.mark.parametrize("fmt", formats_for(), ids=lambda f: f"{f.country}-{f.name}-{f.length}")
def test_random_text_is_always_accepted(fmt: PlateFormat) -> None:
    for seed in range(200):
        text = fmt.random_text(random.Random(seed))
        assert fmt.accepts(text), text
        assert fmt in matching_formats(text)


def test_random_text_covers_each_slot() -> None:
    # Uniform-ish: over many draws every allowed character of SIV's first slot shows up.
    siv = next(f for f in FORMATS["FR"] if f.name == "SIV")
    rng = random.Random(1)
    seen = {siv.random_text(rng)[0] for _ in range(2000)}
    assert seen == set(siv.slots[0])


def test_random_plate_text() -> None:
    rng = random.Random(7)
    countries = set()
    for _ in range(3000):
        fmt, text = random_plate_text(rng)
        assert fmt.accepts(text)
        countries.add(fmt.country)
    assert countries == set(FORMATS) - {GENERIC}  # default: all real countries, equal weights

    picked = [random_plate_text(rng, ["FR", "BE"])[0].country for _ in range(500)]
    assert set(picked) == {"FR", "BE"}
    assert 150 < picked.count("FR") < 350

    weighted = [random_plate_text(rng, weights={"FR": 0.9, "DE": 0.1})[0].country for _ in range(1000)]
    assert set(weighted) == {"FR", "DE"}
    assert weighted.count("FR") > 800

    fr_names = [random_plate_text(rng, ["FR"])[0].name for _ in range(2000)]
    assert fr_names.count("SIV") > fr_names.count("FNI") > 0  # template drawn by prior

    only_fr = {random_plate_text(rng, ["FR", "BE"], weights={"FR": 1.0})[0].country for _ in range(100)}
    assert only_fr == {"FR"}
    with pytest.raises(ValueError, match="XX"):
        random_plate_text(rng, ["XX"])
    with pytest.raises(ValueError):
        random_plate_text(rng, ["FR"], weights={"FR": 0.0})


def test_random_plate_text_is_reproducible() -> None:
    first = [random_plate_text(random.Random(3))[1] for _ in range(5)]
    second = [random_plate_text(random.Random(3))[1] for _ in range(5)]
    assert first == second


def test_weights_for_restricts_and_names_unknown_codes():
    from lapi.grammars import COUNTRY_PRIORS, weights_for

    assert weights_for(["fr", "ZZ"]) == {"FR": COUNTRY_PRIORS["FR"], "ZZ": COUNTRY_PRIORS["ZZ"]}
    assert weights_for(["FR", "BE"], {"FR": 3.0}) == {"FR": 3.0, "BE": COUNTRY_PRIORS["BE"]}
    with pytest.raises(ValueError, match="XX"):
        weights_for(["FR", "XX"])
