#!/usr/bin/env python3
"""Checks what `mqb reproduce all` wrote: each figure's JSON parses, matches its CSV and carries a
verdict on the figure's claim, the CSV has the columns the figure declares (in its JSON: the names in
order and each one's type, which every row's cells must have), and its PNG, PDF, findings, claim and
verdict for the paper and its data under paper/data exist. Exit 1 on any problem.

Usage: check-figures.py [--root DIR] [ID ...]; by default the repository this script is in, and the
figures `mqb list` names (the registry in the code is the one list of figures)."""
import csv
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
args = sys.argv[1:]
if args[:1] == ["--root"]:
    ROOT, args = pathlib.Path(args[1]).resolve(), args[2:]
MQB = pathlib.Path(__file__).resolve().parent.parent / "mqb"

# What a cell of each declared column type may be in the JSON (null: a number that does not apply).
TYPES = {
    "text": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
    "flag": lambda v: isinstance(v, bool),
}

def figure_ids():
    """The figures `mqb list` names: the registry in the code is the one list of figures."""
    out = subprocess.run([str(MQB), "list"], capture_output=True, text=True, check=True).stdout
    return [m.group(1) for m in re.finditer(r"^(F\d+)\s", out, re.M)]

problems = []


def check(fig):
    before = len(problems)
    res = ROOT / "results" / fig
    js = res / f"{fig}.json"
    if not js.exists():
        problems.append(f"{fig}: {js} missing")
        return
    try:
        doc = json.loads(js.read_text())
    except json.JSONDecodeError as e:
        problems.append(f"{fig}: {js} does not parse: {e}")
        return
    if doc.get("figure") != fig or not doc.get("machine", {}).get("cpu_model"):
        problems.append(f"{fig}: JSON lacks its figure id or machine")
    columns = doc.get("columns") or []  # as the figure declares them (reproduce checked its table against them)
    with open(res / f"{fig}.csv", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != columns:
        problems.append(f"{fig}: CSV header {rows[0] if rows else None} != the figure's columns {columns}")
    untestable = doc.get("verdict", {}).get("kind") == "NOT TESTABLE HERE"
    if len(rows) < 2 and not untestable:  # a figure this machine cannot run says so in its verdict
        problems.append(f"{fig}: CSV has no data rows")
    if any(len(r) != len(columns) for r in rows[1:]):
        problems.append(f"{fig}: a CSV row has the wrong number of cells")
    if len(doc.get("rows", [])) != len(rows) - 1:
        problems.append(f"{fig}: JSON has {len(doc.get('rows', []))} rows, CSV {len(rows) - 1}")
    types = doc.get("column_types") or {}
    if list(types) != columns or any(t not in TYPES for t in types.values()):
        problems.append(f"{fig}: column_types {types} do not type the columns {columns}")
    else:
        for i, row in enumerate(doc.get("rows", [])):
            if list(row) != columns:
                problems.append(f"{fig}: JSON row {i} has keys {list(row)}, not the columns")
                break
            bad = [c for c in columns if not TYPES[types[c]](row[c])]
            if bad:
                problems.append(f"{fig}: JSON row {i}: {', '.join(f'{c}={row[c]!r} is not {types[c]}' for c in bad)}")
                break
    figs = ROOT / "paper" / "figures"
    for suffix, magic in ((".png", b"\x89PNG"), (".pdf", b"%PDF")):
        p = figs / f"{fig}{suffix}"
        if not p.exists() or not p.read_bytes().startswith(magic):
            problems.append(f"{fig}: {p} missing or not a {suffix[1:].upper()}")
    for part in ("findings", "claim", "verdict"):
        if not (figs / f"{fig}-{part}.tex").exists():
            problems.append(f"{fig}: {part} for the paper missing")
    verdict = doc.get("verdict", {})
    if verdict.get("kind") not in ("SUPPORTED", "NOT SUPPORTED", "NOT TESTABLE HERE") or not verdict.get("reason"):
        problems.append(f"{fig}: JSON has no verdict on its claim: {verdict}")
    data = ROOT / "paper" / "data" / f"{fig}.json"
    if not data.exists() or json.loads(data.read_text()).get("figure") != fig:
        problems.append(f"{fig}: {data} (the data behind the committed figure) missing")
    if len(problems) == before:
        print(f"{fig}: ok ({len(rows) - 1} rows, findings: {len(doc.get('findings', []))}, "
              f"{verdict['kind']}: {verdict['reason']})")


for fig in args or figure_ids():
    check(fig)
for p in problems:
    print("PROBLEM:", p)
sys.exit(1 if problems else 0)
