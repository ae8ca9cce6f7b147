#!/usr/bin/env python3
"""Checks what `mqb reproduce all` wrote: each figure's JSON parses and matches its CSV, the CSV has
the columns the figure is specified with, and its PNG, PDF and findings exist. Exit 1 on any problem."""
import csv
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

EXPECTED_COLUMNS = {
    "F1": ["backend", "mode", "vcpus", "iodepth", "iops", "p99_us", "interrupts_per_req", "usr_cpu_pct",
           "sys_cpu_pct", "oversubscribed"],
    "F2": ["mode", "vcpus", "iodepth", "iops", "p50_us", "p99_us", "p999_us"],
    "F3": ["event_idx", "iodepth", "defer_call", "rep", "iops", "interrupts_per_req", "kicks_per_req", "p99_us"],
    "F4": ["guest", "poll_max_ns", "iops", "p50_us", "p99_us", "p999_us", "usr_cpu_pct", "sys_cpu_pct"],
    "F5": ["part", "series", "x", "value", "unit", "phase", "pages_sent", "pages_remaining", "migrations",
           "converged", "verified", "downtime_ms", "oversubscribed"],
    "F6": ["policy", "rep", "window_s", "completed_dmas", "deadlocked", "detected_after_ms", "reentrancy_refusals",
           "handler_runs_mid_own_dma", "ops_per_s", "threads_left_stuck"],
    "F7": ["impl", "burst", "metric", "value", "error", "unit", "alloc_bytes_per_op", "ratio_vs_jctools"],
    "F8": ["backend", "phase", "queues", "iops", "p99_us"],
    "F9": ["server", "rw", "iodepth", "numjobs", "iops", "p99_us", "ratio_vs_qemu_nbd"],
    "F10": ["backend", "server", "rw", "iodepth", "queues", "reps", "iops", "iops_min", "iops_max", "p50_us", "p99_us",
            "cpu_us_per_io", "cpu_min", "cpu_max", "busiest_thread_pct", "frontend_cpu_pct", "load1", "iops_vs_qsd",
            "cpu_vs_qsd"],
}

problems = []


def check(fig, columns):
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
    with open(res / f"{fig}.csv", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != columns:
        problems.append(f"{fig}: CSV header {rows[0] if rows else None} != expected {columns}")
    untestable = doc.get("verdict", {}).get("kind") == "NOT_TESTABLE_HERE"
    if len(rows) < 2 and not untestable:  # a figure this machine cannot run says so in its verdict
        problems.append(f"{fig}: CSV has no data rows")
    if any(len(r) != len(columns) for r in rows[1:]):
        problems.append(f"{fig}: a CSV row has the wrong number of cells")
    if len(doc.get("rows", [])) != len(rows) - 1:
        problems.append(f"{fig}: JSON has {len(doc.get('rows', []))} rows, CSV {len(rows) - 1}")
    figs = ROOT / "paper" / "figures"
    for suffix, magic in ((".png", b"\x89PNG"), (".pdf", b"%PDF")):
        p = figs / f"{fig}{suffix}"
        if not p.exists() or not p.read_bytes().startswith(magic):
            problems.append(f"{fig}: {p} missing or not a {suffix[1:].upper()}")
    if not (figs / f"{fig}-findings.tex").exists():
        problems.append(f"{fig}: findings for the paper missing")
    if len(problems) == before:
        print(f"{fig}: ok ({len(rows) - 1} rows, findings: {len(doc.get('findings', []))})")


for fig, cols in EXPECTED_COLUMNS.items():
    check(fig, cols)
for p in problems:
    print("PROBLEM:", p)
sys.exit(1 if problems else 0)
