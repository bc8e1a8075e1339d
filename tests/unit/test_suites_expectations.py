"""suites/expectations.toml, held to what each entry promises.

An entry turns a test into a strict xfail on the targets it names
(harness/pytest_plugin.py).  One whose pattern names no test, or whose
os/arch/release match no target the catalog can build, never applies, and
nothing at run time says so.  These checks read the file through the
plugin's own loader and match with the plugin's own Expectation.matches, so
they judge an entry exactly as a run would.

Test ids come from pytest's own collection of suites/ (about 2 s).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness import pytest_plugin
from harness.errors import ConfigError
from harness.targets import ARCHES, TargetId, parse_target

REPO = Path(__file__).resolve().parents[2]
SUITES = REPO / "suites"
EXPECTATIONS = SUITES / "expectations.toml"
CATALOG = REPO / "images"
KERNELS = ("netbsd", "openbsd", "linux")
# A reference must say where the fact is recorded: a problem report
# ("PR kern/51600"), or a source path with its revision ("sys/kern/kern_sig.c 1.365").
_PR = re.compile(r"\bPR [\w-]+/\d+\b")
_PATH_AND_REVISION = re.compile(r"\w/[\w./-]+\b.*?\b\d+\.\d+\b")


# -- the suites' test ids, as pytest collects them ----------------------------------------
def suite_test_ids() -> set[str]:
    """Every node id pytest collects from ``suites/`` (``suites/test_x.py::test_y[...]``)."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "suites"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    if run.returncode != 0:
        raise AssertionError("collecting suites/ failed:\n" + run.stdout[-2000:] + run.stderr[-2000:])
    return {line for line in run.stdout.splitlines() if "::" in line}


# -- the targets an entry can name: the image catalog, and the local kernel ------------------
def catalog_targets(images: Path = CATALOG) -> list[TargetId]:
    targets = [parse_target(name) for path in sorted(images.glob("*.toml"))
               for name in tomllib.loads(path.read_text()).get("targets", {})]
    # --target local is this machine's Linux kernel, whatever its arch.
    targets += [TargetId("local", "linux", "host", arch, "linux") for arch in ARCHES]
    return targets


# -- the check -------------------------------------------------------------------------------
def deviation_problems(path: Path, suite_ids: set[str], targets: list[TargetId]) -> list[str]:
    """Everything wrong with the entries of ``path``, one line each, naming
    the entry and what to fix.  Empty when every entry will apply somewhere."""
    problems: list[str] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for number, exp in enumerate(pytest_plugin.load_expectations(path), start=1):
        where = "%s: [[deviation]] #%d (%s)" % (path, number, exp.test)
        key = (exp.test, exp.os, exp.arch, exp.release)
        if key in seen:
            problems.append("%s: same test/os/arch/release as #%d; only the first applies" % (where, seen[key]))
        seen.setdefault(key, number)
        if not exp.reason.strip():
            problems.append("%s: 'reason' is blank" % where)
        if not (_PR.search(exp.reference) or _PATH_AND_REVISION.search(exp.reference)):
            problems.append("%s: 'reference' %r names neither a PR (PR kern/NNNNN) nor a source path with "
                            "its revision" % (where, exp.reference))
        known_os = exp.os in (*KERNELS, "*")
        if not known_os:
            problems.append("%s: os %r is not one of %s or *" % (where, exp.os, ", ".join(KERNELS)))
        named = sorted(t for t in suite_ids if _names_test(exp, t))
        if not named:
            problems.append("%s: the test pattern matches no test in suites/ (fnmatch: write [[] for a "
                            "literal '[')" % where)
        elif known_os and not any(exp.matches(named[0], target) for target in targets):
            problems.append("%s: os=%r arch=%r release=%r match no catalog target (images/*.toml) and no "
                            "local Linux" % (where, exp.os, exp.arch, exp.release))
    return problems


def _names_test(exp: pytest_plugin.Expectation, test_id: str) -> bool:
    # The plugin's own matching, with the target half opened up.
    anywhere = dataclasses.replace(exp, os="*", arch="*", release="*")
    return anywhere.matches(test_id, TargetId("any", "any", "any", "any", "any"))


# -- tests -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def suite_ids() -> set[str]:
    return suite_test_ids()


@pytest.fixture(scope="module")
def targets() -> list[TargetId]:
    return catalog_targets()


def test_the_real_file_has_no_problems(suite_ids, targets):
    assert deviation_problems(EXPECTATIONS, suite_ids, targets) == []


def test_the_real_file_only_holds_deviation_tables():
    data = tomllib.loads(EXPECTATIONS.read_text())
    assert set(data) <= {"deviation"}
    assert all(isinstance(entry, dict) for entry in data.get("deviation", []))


def test_collected_ids_include_plain_and_parametrized_tests(suite_ids):
    assert "suites/test_attach.py::test_detach_with_signal_delivers_it" in suite_ids
    assert "suites/test_memory.py::test_read_sizes_and_alignments[0-1]" in suite_ids
    assert "suites/test_memory.py::test_read_sizes_and_alignments" not in suite_ids


def test_catalog_targets_cover_every_os_and_arch(targets):
    assert {(t.os, t.arch) for t in targets} == {(k, a) for k in KERNELS for a in ARCHES}
    # Releases as the plugin sees them: the catalog's, and "host" for local.
    assert {"9.4", "10.1", "7.5", "12", "host"} <= {t.release for t in targets}


GOOD = """
[[deviation]]
test = "suites/test_attach.py::test_detach_with_signal_delivers_it"
os = "openbsd"
arch = "sparc64"
release = "7.*"
reason = "why"
reference = "PR kern/12345"
"""


def _entry(**fields: str) -> str:
    lines = {"test": "suites/test_attach.py::test_detach_with_signal_delivers_it", "os": "netbsd",
             "reason": "why", "reference": "openbsd/src sys/kern/kern_sig.c 1.365"}
    lines.update(fields)
    return "[[deviation]]\n" + "".join('%s = "%s"\n' % (k, v) for k, v in lines.items())


def test_a_well_formed_entry_has_no_problems(tmp_path, suite_ids, targets):
    path = tmp_path / "expectations.toml"
    path.write_text(GOOD)
    assert deviation_problems(path, suite_ids, targets) == []


def test_one_parametrization_is_named_with_an_escaped_bracket(tmp_path, suite_ids, targets):
    path = tmp_path / "expectations.toml"
    path.write_text(_entry(test="suites/test_memory.py::test_read_sizes_and_alignments[[]0-1]"))
    assert deviation_problems(path, suite_ids, targets) == []
    exp, = pytest_plugin.load_expectations(path)
    netbsd = parse_target("netbsd-10.1-amd64")
    assert exp.matches("suites/test_memory.py::test_read_sizes_and_alignments[0-1]", netbsd)
    assert not exp.matches("suites/test_memory.py::test_read_sizes_and_alignments[0-2]", netbsd)


@pytest.mark.parametrize(("text", "fragment"), [
    (_entry(os="openbds"), "os 'openbds' is not one of netbsd, openbsd, linux or *"),
    (_entry(test="suites/test_attach.py::test_no_such_test"), "matches no test in suites/"),
    # Unescaped, the brackets are a character class: the real id never matches.
    (_entry(test="suites/test_memory.py::test_read_sizes_and_alignments[0-1]"), "matches no test in suites/"),
    (_entry(release="9.9"), "match no catalog target"),
    (_entry(arch="arm64"), "match no catalog target"),
    (_entry(os="linux", release="10.1"), "match no catalog target"),
    (_entry(reason="   "), "'reason' is blank"),
    (_entry(reference="see the mailing list"), "names neither a PR"),
    (_entry() + _entry(), "same test/os/arch/release as #1"),
])
def test_a_bad_entry_is_reported_by_name(tmp_path, suite_ids, targets, text, fragment):
    path = tmp_path / "expectations.toml"
    path.write_text(text)
    problems = deviation_problems(path, suite_ids, targets)
    assert len(problems) == 1 and fragment in problems[0], problems
    assert str(path) in problems[0]


@pytest.mark.parametrize(("text", "key"), [
    (_entry().replace('reason = "why"\n', ""), "'reason' is required"),
    (_entry().replace('reference = "openbsd/src sys/kern/kern_sig.c 1.365"\n', ""), "'reference' is required"),
    (_entry(test=""), "'test' is required"),
    (_entry(refrence="PR kern/1"), "unknown key(s) refrence"),
])
def test_load_expectations_rejects_a_malformed_entry_naming_file_and_key(tmp_path, text, key):
    path = tmp_path / "expectations.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        pytest_plugin.load_expectations(path)
    assert "%s: [[deviation]] #1" % path in str(err.value)
    assert key in str(err.value)


@pytest.mark.parametrize(("text", "fragment"), [
    (_entry().replace("[[deviation]]", "[[deviations]]"), "top-level key(s) deviations are not read"),
    ("[[deviation]]\ntest = \"unterminated\n", "not valid TOML"),
    (_entry(os="netbsd").replace('os = "netbsd"', "os = 10"), "#1: os must be strings"),
])
def test_load_expectations_rejects_a_file_it_would_misread(tmp_path, text, fragment):
    path = tmp_path / "expectations.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        pytest_plugin.load_expectations(path)
    assert str(err.value).startswith(str(path)) and fragment in str(err.value)
