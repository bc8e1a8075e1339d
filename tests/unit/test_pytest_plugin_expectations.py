"""Expectation entries keyed by a release range (">=9.4,<10.2") beside the
fnmatch patterns they always took, and load_expectations refusing a range it
cannot read, naming the file, the entry and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import pytest_plugin
from harness.errors import ConfigError
from harness.pytest_plugin import Expectation, load_expectations, parse_release_range, release_matches
from harness.targets import TargetId, parse_target

# pytester runs the plugin end to end on a throwaway test file.
pytest_plugins = ["pytester"]

TEST_ID = "suites/test_attach.py::test_detach_with_signal_delivers_it"


def _write(tmp_path: Path, release: str, os_name: str = "netbsd") -> Path:
    path = tmp_path / "expectations.toml"
    path.write_text('[[deviation]]\ntest = "%s"\nos = "%s"\nrelease = "%s"\nreason = "why"\n'
                    'reference = "PR kern/12345"\n' % (TEST_ID, os_name, release))
    return path


@pytest.mark.parametrize(("pattern", "inside", "outside"), [
    (">=9.4,<10.2", ["9.4", "10.0", "10.1", "10.1_STABLE"], ["9.3", "10.2", "11.0", "9"]),
    ("<7.7", ["7.5", "7.6", "6.9"], ["7.7", "7.8", "8.0"]),
    ("> 7.6, <= 7.8", ["7.7", "7.8"], ["7.6", "7.9"]),
    # 11 and 11.0 are one release, whichever side names it.
    ("==11", ["11.0", "11"], ["11.1", "10.0"]),
    ("==11.0", ["11", "11.0"], ["11.0.1"]),
    ("!=10.1", ["10.0", "10.2", "9.4"], ["10.1"]),
    # Numeric, not text: 10 sorts after 9, where a string compare puts it first.
    (">9.4", ["10.1", "11.0"], ["9.4", "9.3"]),
])
def test_a_range_holds_exactly_the_releases_inside_it(pattern, inside, outside):
    assert [r for r in inside + outside if release_matches(pattern, r)] == inside


def test_a_range_never_holds_a_release_without_a_number():
    # --target local has release "host": no range can place it.
    assert not release_matches(">=0", "host")
    assert not release_matches("!=10.1", "host")
    assert release_matches("*", "host")


@pytest.mark.parametrize(("pattern", "release", "expected"), [
    ("10.*", "10.1", True),
    ("10.*", "11.0", False),
    ("7.[56]", "7.6", True),
    ("7.[56]", "7.7", False),
    ("*", "12", True),
    ("9.4", "9.4", True),
])
def test_fnmatch_patterns_still_match_as_before(pattern, release, expected):
    assert release_matches(pattern, release) is expected


def test_parse_release_range_reads_each_clause():
    assert parse_release_range(">=9.4,<10.2") == [(">=", (9, 4)), ("<", (10, 2))]
    assert parse_release_range(" == 11.0 ") == [("==", (11,))]


def test_a_loaded_range_entry_applies_only_to_targets_inside_it(tmp_path):
    exp, = load_expectations(_write(tmp_path, ">=9.4,<10.2"))
    assert exp.release == ">=9.4,<10.2"
    matched = [name for name in ("netbsd-9.4-amd64", "netbsd-10.1-sparc64", "netbsd-11.0-amd64",
                                 "openbsd-10.1-amd64") if exp.matches(TEST_ID, parse_target(name))]
    # openbsd-10.1 is in the range but not the entry's OS.
    assert matched == ["netbsd-9.4-amd64", "netbsd-10.1-sparc64"]


def test_the_plugin_marks_a_test_xfail_on_a_target_in_the_range(pytester):
    pytester.makepyfile(test_sample="def test_detach():\n    assert False\n")
    expectations = pytester.path / "expectations.toml"
    expectations.write_text('[[deviation]]\ntest = "test_sample.py::test_detach"\nos = "netbsd"\n'
                            'release = "<10.2"\nreason = "why"\nreference = "PR kern/1"\n')
    # The one failing test, run on both sides of the range's bound.
    in_range = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--target", "netbsd-10.1-amd64",
                                            "--expectations", str(expectations))
    in_range.assert_outcomes(xfailed=1)
    out_of_range = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--target", "netbsd-10.2-amd64",
                                                "--expectations", str(expectations))
    out_of_range.assert_outcomes(failed=1)


@pytest.mark.parametrize(("release", "fragment"), [
    (">=9.4,", "clause ''"),
    ("=>9.4", "clause '=>9.4'"),
    ("<10.x", "clause '<10.x'"),
    (">=9.4,10.1", "clause '10.1'"),
    ("<", "clause '<'"),
    ("!9", "clause '!9'"),
])
def test_load_expectations_rejects_a_bad_range_naming_file_entry_and_key(tmp_path, release, fragment):
    path = _write(tmp_path, release)
    with pytest.raises(ConfigError) as err:
        load_expectations(path)
    message = str(err.value)
    assert "%s: [[deviation]] #1: release %r is not a release range" % (path, release) in message
    assert fragment in message
    assert err.value.hint is not None and ">=9.4,<10.2" in err.value.hint


def test_only_the_bad_entry_is_named_when_an_earlier_one_is_good(tmp_path):
    good = _write(tmp_path, ">=9.4").read_text()
    path = tmp_path / "two.toml"
    path.write_text(good + good.replace('">=9.4"', '">=9.4;<10"'))
    with pytest.raises(ConfigError, match=r"\[\[deviation\]\] #2: release '>=9.4;<10'"):
        load_expectations(path)


def test_names_test_helper_still_opens_up_a_range_entry():
    # tests/unit/test_suites_expectations.py widens an entry with
    # dataclasses.replace(release="*"); a range must survive that round trip.
    import dataclasses

    exp = Expectation(TEST_ID, "netbsd", "*", ">=9.4,<10.2", "why", "PR kern/1")
    anywhere = dataclasses.replace(exp, os="*", arch="*", release="*")
    assert anywhere.matches(TEST_ID, TargetId("any", "any", "any", "any", "any"))
    assert not exp.matches(TEST_ID, TargetId("any", "any", "any", "any", "any"))
    assert pytest_plugin.is_release_range(exp.release)
