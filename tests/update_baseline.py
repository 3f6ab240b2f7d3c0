"""Regenerate the stored regression baseline (tests/baseline/regression.json).

Results are numbers people decide on: a change of any simulated number must be deliberate.
This script is the only way to accept one. It recomputes every case, prints which arrays
changed, writes the baseline with the reason and the machine's fingerprint, and adds a
`MODEL:` line with the reason to CHANGES.md (the test checks that the line is there).

    python tests/update_baseline.py --reason "D1: a label expansion starts at the product's current price"
    python tests/update_baseline.py --check      # only report what differs; write nothing
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from regression import BASELINE, REPO, SCENARIOS, cases, differences, fingerprint, names_of  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reason", help="why the numbers changed: becomes a MODEL: line in CHANGES.md")
    ap.add_argument("--check", action="store_true", help="report differences only")
    args = ap.parse_args(argv)
    if not args.check and not (args.reason and args.reason.strip()):
        ap.error("--reason is required to regenerate (or pass --check)")
    old = json.loads(BASELINE.read_text()) if BASELINE.exists() else {"cases": {}, "fingerprint": None}
    exact = old.get("fingerprint") == fingerprint()
    new_cases, changed = {}, 0
    for case, compute in cases():
        recs = compute()
        new_cases[case] = recs
        diff = differences(old["cases"].get(case, {}), recs, exact)
        changed += len(diff)
        status = "unchanged" if not diff else f"{len(diff)} changed"
        print(f"{case:<50} {len(recs):>4} arrays  {status}")
        for line in diff[:20]:
            print(f"    {line}")
    print(f"{changed} array(s) differ from the stored baseline"
          + ("" if exact else " (another machine's fingerprint: statistics compared to 1e-9)"))
    if args.check:
        return 1 if changed else 0
    reason = " ".join(args.reason.split())
    BASELINE.parent.mkdir(parents=True, exist_ok=True)
    names = {p.stem: names_of(p) for p in SCENARIOS}
    BASELINE.write_text(_dump({"reason": reason, "written": dt.date.today().isoformat(),
                               "fingerprint": fingerprint(), "names": names, "cases": new_cases}))
    changes = REPO / "CHANGES.md"
    text = changes.read_text()
    line = f"- MODEL: {reason} (regression baseline regenerated; {changed} array(s) changed)\n"
    head = "## Unreleased\n\n"
    if head not in text:
        sys.exit("CHANGES.md has no '## Unreleased' section to log the change in")
    changes.write_text(text.replace(head, head + line, 1))
    print(f"wrote {BASELINE.relative_to(REPO)} and added to CHANGES.md: {line.strip()}")
    return 0


def _dump(doc: dict) -> str:
    """JSON with one array record per line: small, and a diff shows which arrays changed."""
    head = {k: v for k, v in doc.items() if k != "cases"}
    lines = [json.dumps(head, sort_keys=True)[:-1] + ', "cases": {']
    for k, (case, recs) in enumerate(sorted(doc["cases"].items())):
        lines.append(f" {json.dumps(case)}: {{")
        items = sorted(recs.items())
        for j, (name, rec) in enumerate(items):
            lines.append(f"  {json.dumps(name)}: {json.dumps(rec, sort_keys=True)}" + ("," if j < len(items) - 1 else ""))
        lines.append(" }" + ("," if k < len(doc["cases"]) - 1 else ""))
    lines.append("}}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
