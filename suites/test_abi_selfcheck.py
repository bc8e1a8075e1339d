"""First test of every run: the core's ABI table against the target's own headers.

Every other suite trusts the table's request numbers and layouts; this test
compiles them into a probe on the target (``tracecore.selfcheck``), runs it
and fails, naming each disagreement, when the target's headers say
otherwise.  Its properties (``abi_facts_checked``, ``abi_disagreements``)
let the report mark the target's other results untrustworthy.  The file
name sorts first among the suites so a plain ``pytest suites/`` runs it
first too.
"""

from __future__ import annotations

import json

import pytest

from harness.tracecore import abi as abi_tables
from harness.tracecore import selfcheck


def test_abi_tables_match_target_headers(tracer, target, record_property):
    report = selfcheck.check_target(tracer.call, target.hello)
    if not report["available"]:
        pytest.skip("ABI self-check not run on %s: %s" % (target.name, report["reason"]))
    # Every fact the host's copy of the table states was answered: the guest
    # cannot have checked a smaller table and passed.
    table = abi_tables.load(target.os, target.arch)
    expected_facts = len(selfcheck.generate(table, target.hello.get("release")).facts)
    record_property("abi_facts_checked", report["checked"])
    record_property("abi_built_on", report["built_on"])
    record_property("abi_disagreements", json.dumps(report["disagreements"]))
    assert report["checked"] + len(report["unchecked"]) == expected_facts
    assert report["disagreements"] == [], (
        "the %s ABI table disagrees with %s's headers in %d of %d facts; every other result on this "
        "target is untrustworthy until the table is fixed:\n  %s"
        % (report["abi"], target.name, len(report["disagreements"]), report["checked"],
           "\n  ".join(report["disagreements"])))
