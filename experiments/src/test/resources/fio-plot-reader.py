#!/usr/bin/env python3
"""Reads fio JSON files the way fio-plot does (fio_plot/fiolib/jsonparsing*.py: get_json_mapping,
build_json_mapping): global options merged into each job's options, then the keys fio-plot's
charts take, per job and direction. Exits non-zero naming the first key it misses or a value of
the wrong type. Usage: fio-plot-reader.py FILE.json..."""
import json
import sys


def row(job, mode, record):
    opts = {**job["job options"], **record.get("global options", {})}
    d = job[mode]
    r = {
        "iodepth": int(opts["iodepth"]),
        "numjobs": int(opts["numjobs"]),
        "bs": str(opts["bs"]),
        "rw": str(opts["rw"]),
        "bw": float(d["bw"]),
        "iops": float(d["iops"]),
        "iops_stddev": float(d["iops_stddev"]),
        "lat": float(d["lat_ns"]["mean"]),
        "lat_stddev": float(d["lat_ns"]["stddev"]),
        "latency_ms": {k: float(v) for k, v in job["latency_ms"].items()},
        "latency_us": {k: float(v) for k, v in job["latency_us"].items()},
        "latency_ns": {k: float(v) for k, v in job["latency_ns"].items()},
        "cpu_usr": float(job["usr_cpu"]),
        "cpu_sys": float(job["sys_cpu"]),
        "fio_version": str(record["fio version"]),
    }
    # fio-plot's bar charts and tables read these too
    for k in ("bw_min", "bw_max", "bw_mean", "bw_dev", "bw_agg", "iops_min", "iops_max", "iops_mean", "iops_samples"):
        r[k] = float(d[k])
    r["iodepth_level"] = {k: float(v) for k, v in job["iodepth_level"].items()}
    return r


def main(paths):
    for p in paths:
        with open(p) as f:
            record = json.load(f)
        for job in record["jobs"]:
            rw = job["job options"]["rw"]
            modes = {"randrw": ["read", "write"], "rw": ["read", "write"], "readwrite": ["read", "write"],
                     "read": ["read"], "randread": ["read"], "write": ["write"], "randwrite": ["write"]}[rw]
            for mode in modes:
                r = row(job, mode, record)
                if r["iops"] <= 0:
                    raise SystemExit(f"{p}: {mode} iops {r['iops']}")
                print(f"{p}: {r['fio_version']} {r['rw']} bs={r['bs']} iodepth={r['iodepth']} numjobs={r['numjobs']}"
                      f" {mode} iops={r['iops']:.0f} iops_stddev={r['iops_stddev']:.1f} lat={r['lat']:.0f}ns")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (KeyError, ValueError, TypeError) as e:
        print(f"fio-plot-reader: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
