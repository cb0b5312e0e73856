#!/usr/bin/env python3
"""Print per-suite results and the one summary line: "N passed, N failed, N skipped".

Each suite counts once (lint, a Molecule scenario's converge/idempotence run); every pytest
test case inside a suite (unit tests, testinfra verifiers) counts once more, from JUnit XML.
"""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

results, wall = Path(sys.argv[1]), int(sys.argv[2])
passed = failed = skipped = 0
for line in (results / "suites.tsv").read_text().splitlines():
    name, status, seconds, reason = (line.split("\t") + [""])[:4]
    print(f"{status.upper():5} {name} ({seconds}s){' - ' + reason if reason else ''}")
    passed += status == "pass"
    failed += status == "fail"
    skipped += status == "skip"
for xml in sorted((results / "junit").glob("*.xml")):
    for case in ET.parse(xml).getroot().iter("testcase"):
        outcome = {child.tag for child in case}
        if outcome & {"failure", "error"}:
            failed += 1
            print(f"FAIL  {xml.stem}: {case.get('classname')}::{case.get('name')}")
        elif "skipped" in outcome:
            skipped += 1
            skip = case.find("skipped")  # there: "skipped" is in outcome
            reason = skip.get("message", "") if skip is not None else ""
            print(f"SKIP  {xml.stem}: {case.get('name')} - {reason}")
        else:
            passed += 1
print(f"wall time: {wall}s")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or not passed else 0)
