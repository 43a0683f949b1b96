#!/usr/bin/env python3
"""Turn bench.sh's raw measurements into a Markdown report, JSON and RESULTS.md.

Input (written by bench.sh):
  raw.tsv       size input case round rc wall_s user_s sys_s tree_maxrss_kib own_hwm_kib error
                (round 0 = warm-up, not counted; rc -1 = skipped)
  archives.tsv  size input path bytes uncompressed_bytes

Standard library only. Prints the report on stdout.
"""

import argparse
import json
import os
import platform
import statistics
import sys
from datetime import datetime, timezone

MIB = 1024 * 1024

CASES = {
    "buildah": "buildah recipe → overlay (from scratch, add, config --annotation ×N, commit)",
    "cs-overlay": "checkpointctl-image → containers-storage overlay",
    "cs-vfs": "checkpointctl-image → containers-storage vfs",
    "oci-none": "checkpointctl-image → oci: --compression none",
    "oci-gzip": "checkpointctl-image → oci: --compression gzip",
    "oci-zstd": "checkpointctl-image → oci: --compression zstd",
    "floor-extract": "floor: tar -x + openssl dgst -sha256",
    "floor-copy": "floor: cp + openssl dgst -sha256",
    "floor-copy-fsync": "cp + openssl dgst -sha256 + fsync of the copy (informational)",
    "floor-zstd-d": "floor: zstd -d only (added to the floors for zst input)",
    "check-criu-arg": "check --criu-version 4.1.1 (image already stored)",
    "check-probe": "check, CRIU probed (image already stored)",
}
ORDER = list(CASES)
TOOL_BUILDS = ("cs-overlay", "cs-vfs", "oci-none", "oci-gzip", "oci-zstd")
# Cases that are one process, whose own VmHWM is meaningful (the others run bash scripts).
SINGLE_PROCESS = TOOL_BUILDS + ("floor-zstd-d", "check-criu-arg", "check-probe")
FLOOR_OF = {
    "buildah": "floor-extract",
    "cs-overlay": "floor-extract",
    "cs-vfs": "floor-extract",
    "oci-none": "floor-copy",
    "oci-gzip": "floor-copy",
    "oci-zstd": "floor-copy",
    "floor-copy-fsync": "floor-copy",
}

# Targets from DESIGN.md "Performance targets".
SPEEDUP_MIN = 10.0
FLOOR_MAX = 1.3
RSS_MAX_MIB = 64.0
RSS_FLAT_MIB = 8.0  # growth from the smallest to the largest size counted as "flat"
ZSTD_CORES_FRACTION = 0.75  # (user+sys)/wall >= this × nproc counts as "all cores"
CHECK_MAX_S = 0.020


def size_bytes(label):
    s = label.upper()
    mult = {"K": 1024, "M": MIB, "G": 1024 * MIB}.get(s[-1:], 1)
    return int(s.rstrip("KMG")) * mult


def read_tsv(path, ncols):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            parts += [""] * (ncols - len(parts))
            rows.append(parts[:ncols])
    return rows


def machine_facts():
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    distro = ""
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    sha_ni = False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            sha_ni = " sha_ni" in f.read()
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "sha_ni": sha_ni,
        "mem_gib": mem,
        "kernel": platform.release(),
        "os": distro,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def fmt(v, spec=".2f", none="–"):
    return none if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--archives", required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--check-iters", type=int, required=True)
    ap.add_argument("--cmdline", default="")
    ap.add_argument("--tool-version", default="")
    ap.add_argument("--git-rev", default="")
    ap.add_argument("--buildah-version", default="")
    ap.add_argument("--load-start", default="")
    ap.add_argument("--load-end", default="")
    ap.add_argument("--started", default="")
    ap.add_argument("--json")
    ap.add_argument("--results")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()

    machine = machine_facts()
    archives = []
    usize = {}
    for size, inp, path, nbytes, ubytes in read_tsv(a.archives, 5):
        archives.append(
            {"size": size, "input": inp, "path": path, "bytes": int(nbytes),
             "uncompressed_bytes": int(ubytes)}
        )
        usize[size] = int(ubytes)

    # group raw rows
    groups = {}
    for size, inp, case, rnd, rc, wall, user, sys_, rss, own, err in read_tsv(a.raw, 11):
        g = groups.setdefault((size, inp, case), {"runs": [], "errors": [], "skipped": False})
        rc = int(rc)
        if rc == -1:
            g["skipped"] = True
            g["errors"].append(err)
            continue
        if rc != 0:
            g["errors"].append(err or f"exit status {rc}")
            continue
        if int(rnd) == 0:
            continue  # warm-up
        g["runs"].append(
            {"wall_s": float(wall), "user_s": float(user), "sys_s": float(sys_),
             "maxrss_kib": int(rss), "own_hwm_kib": int(own or 0), "note": err}
        )

    results = []
    by_key = {}
    for (size, inp, case), g in groups.items():
        runs = g["runs"]
        r = {
            "size": size,
            "input": inp,
            "case": case,
            "description": CASES.get(case, case),
            "status": "SKIPPED" if g["skipped"] else ("FAILED" if g["errors"] else "ok"),
            "error": g["errors"][0] if g["errors"] else None,
            "runs": len(runs),
            "wall_s": [x["wall_s"] for x in runs],
            "wall_median_s": None,
            "cpu_median_s": None,
            "user_median_s": None,
            "sys_median_s": None,
            "peak_rss_mib": None,
            "tree_peak_rss_mib": None,
            "own_peak_rss_mib": None,
            "throughput_mib_s": None,
            "speedup_vs_buildah": None,
            "floor": None,
            "ratio_vs_floor": None,
            "cpu_per_wall": None,
        }
        if runs:
            r["wall_median_s"] = statistics.median(x["wall_s"] for x in runs)
            r["user_median_s"] = statistics.median(x["user_s"] for x in runs)
            r["sys_median_s"] = statistics.median(x["sys_s"] for x in runs)
            r["cpu_median_s"] = statistics.median(x["user_s"] + x["sys_s"] for x in runs)
            r["tree_peak_rss_mib"] = max(x["maxrss_kib"] for x in runs) / 1024
            if case in SINGLE_PROCESS and any(x["own_hwm_kib"] for x in runs):
                r["own_peak_rss_mib"] = max(x["own_hwm_kib"] for x in runs) / 1024
            # the number the targets use: the process itself where that is known
            r["peak_rss_mib"] = (r["own_peak_rss_mib"] if r["own_peak_rss_mib"] is not None
                                 else r["tree_peak_rss_mib"])
            if r["wall_median_s"] > 0:
                r["cpu_per_wall"] = r["cpu_median_s"] / r["wall_median_s"]
                if not case.startswith("check") and size in usize:
                    r["throughput_mib_s"] = usize[size] / MIB / r["wall_median_s"]
            notes = {x["note"] for x in runs if x["note"]}
            if notes and not r["error"]:
                r["note"] = sorted(notes)[0]
        results.append(r)
        by_key[(size, inp, case)] = r

    def med(size, inp, case):
        r = by_key.get((size, inp, case))
        return r["wall_median_s"] if r and r["runs"] else None

    # ratios
    for r in results:
        size, inp, case = r["size"], r["input"], r["case"]
        w = r["wall_median_s"]
        if w is None or case.startswith("check"):
            continue
        b = med(size, inp, "buildah")
        if b is not None and w > 0:
            r["speedup_vs_buildah"] = b / w
        fcase = FLOOR_OF.get(case, case if case.startswith("floor") else None)
        if fcase is None:
            continue
        floor = med(size, "tar", fcase)
        label = CASES[fcase].removeprefix("floor: ")
        if inp == "zst" and floor is not None:
            zd = med(size, "zst", "floor-zstd-d")
            floor = floor + zd if zd is not None else None
            label = "zstd -d + " + label
        if floor and case != "floor-zstd-d":
            r["floor"] = label
            r["floor_wall_s"] = floor
            r["ratio_vs_floor"] = w / floor

    sizes = []
    for ar in archives:
        if ar["size"] not in sizes:
            sizes.append(ar["size"])
    inputs_order = {"tar": 0, "zst": 1, "containers-storage": 2, "oci": 2}
    results.sort(
        key=lambda r: (
            sizes.index(r["size"]) if r["size"] in sizes else 99,
            inputs_order.get(r["input"], 3),
            ORDER.index(r["case"]) if r["case"] in ORDER else 99,
        )
    )

    # targets
    targets = []

    def target(name, size, value, threshold, ok, status=None, detail=""):
        if status is None:
            status = "PASS" if ok else "MISS"
        targets.append({"target": name, "size": size, "value": value, "threshold": threshold,
                        "status": status, "detail": detail})

    def case_status(r):
        if r is None:
            return "n/a"
        if r["status"] == "SKIPPED":
            return "n/a"
        if r["status"] == "FAILED":
            return "FAILED"
        return None

    for size in sizes:
        for case in ("cs-overlay", "cs-vfs"):
            r = by_key.get((size, "tar", case))
            st = case_status(r)
            b = by_key.get((size, "tar", "buildah"))
            sp = r["speedup_vs_buildah"] if r else None
            if st is None and sp is None:
                st = "n/a"
            target(f"{case} ≥{SPEEDUP_MIN:g}× faster than buildah", size, sp, SPEEDUP_MIN,
                   sp is not None and sp >= SPEEDUP_MIN, st,
                   "" if b and b["runs"] else "buildah not measured")
            rf = r["ratio_vs_floor"] if r else None
            if st is None and rf is None:
                st = "n/a"
            target(f"{case} ≤{FLOOR_MAX:g}× floor (tar -x + sha256)", size, rf, FLOOR_MAX,
                   rf is not None and rf <= FLOOR_MAX, st)
        r = by_key.get((size, "tar", "oci-none"))
        st = case_status(r)
        rf = r["ratio_vs_floor"] if r else None
        if st is None and rf is None:
            st = "n/a"
        fs = med(size, "tar", "floor-copy-fsync")
        w = r["wall_median_s"] if r else None
        target(f"oci-none ≤{FLOOR_MAX:g}× floor (cp + sha256)", size, rf, FLOOR_MAX,
               rf is not None and rf <= FLOOR_MAX, st,
               f"{w / fs:.2f}× cp + sha256 + fsync" if w and fs else "")
        r = by_key.get((size, "tar", "oci-zstd"))
        st = case_status(r)
        cpw = r["cpu_per_wall"] if r else None
        need = ZSTD_CORES_FRACTION * (machine["nproc"] or 1)
        if st is None and cpw is None:
            st = "n/a"
        target("oci-zstd uses all cores: (user+sys)/wall", size, cpw, need,
               cpw is not None and cpw >= need, st,
               f"≥{ZSTD_CORES_FRACTION:g}×nproc ({machine['nproc']})")
        tool = [x for x in results if x["size"] == size and x["case"] in TOOL_BUILDS
                and x["peak_rss_mib"] is not None]
        if tool:
            worst = max(tool, key=lambda x: x["peak_rss_mib"])
            tree = max(x["tree_peak_rss_mib"] for x in tool)
            target(f"peak RSS < {RSS_MAX_MIB:g} MiB (all checkpointctl-image builds)", size,
                   worst["peak_rss_mib"], RSS_MAX_MIB, worst["peak_rss_mib"] < RSS_MAX_MIB,
                   detail=f"max: {worst['input']} {worst['case']}; with child processes "
                   f"(podman --version …): {tree:.1f} MiB")
        else:
            target(f"peak RSS < {RSS_MAX_MIB:g} MiB (all checkpointctl-image builds)", size,
                   None, RSS_MAX_MIB, False, "n/a")
        for case in ("check-criu-arg", "check-probe"):
            rs = [x for x in results if x["size"] == size and x["case"] == case]
            r = rs[0] if rs else None
            st = case_status(r)
            w = r["wall_median_s"] if r else None
            if st is None and w is None:
                st = "n/a"
            target(f"{case} < {CHECK_MAX_S * 1000:g} ms median", size,
                   None if w is None else w * 1000, CHECK_MAX_S * 1000,
                   w is not None and w < CHECK_MAX_S, st,
                   f"image in {r['input']}" if r else "")
    if len(sizes) >= 2:
        small = min(sizes, key=size_bytes)
        large = max(sizes, key=size_bytes)
        growth = []
        for inp in ("tar", "zst"):
            for case in TOOL_BUILDS:
                rs, rl = by_key.get((small, inp, case)), by_key.get((large, inp, case))
                if rs and rl and rs["peak_rss_mib"] is not None and rl["peak_rss_mib"] is not None:
                    growth.append((rl["peak_rss_mib"] - rs["peak_rss_mib"], inp, case))
        if growth:
            g, inp, case = max(growth)
            target(f"peak RSS flat {small} → {large} (growth < {RSS_FLAT_MIB:g} MiB)",
                   f"{small}→{large}", g, RSS_FLAT_MIB, g < RSS_FLAT_MIB,
                   detail=f"max growth: {inp} {case}")
        else:
            target(f"peak RSS flat {small} → {large}", f"{small}→{large}", None, RSS_FLAT_MIB,
                   False, "n/a")

    # ---- Markdown
    out = []
    out.append("| size | input | case | runs | wall median (s) | user+sys median (s) "
               "| peak RSS own / tree (MiB) | MiB/s | speed-up vs buildah | × floor |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        case = r["case"]
        if r["status"] != "ok":
            msg = r["status"]
            if r["error"]:
                msg += ": " + r["error"].replace("|", "\\|")[:120]
        else:
            msg = None
        wall = r["wall_median_s"]
        wall_s = fmt(wall, ".3f") if wall is not None and wall >= 0.1 else (
            "–" if wall is None else f"{wall * 1000:.1f} ms")
        row = [
            r["size"], r["input"], f"{case}" + (f" ({msg})" if msg else ""), str(r["runs"]),
            wall_s, fmt(r["cpu_median_s"], ".3f"),
            fmt(r["own_peak_rss_mib"], ".1f") + " / " + fmt(r["tree_peak_rss_mib"], ".1f"),
            fmt(r["throughput_mib_s"], ".0f"),
            fmt(r["speedup_vs_buildah"], ".1f") + ("×" if r["speedup_vs_buildah"] else ""),
            fmt(r["ratio_vs_floor"], ".2f") + ("×" if r["ratio_vs_floor"] else ""),
        ]
        out.append("| " + " | ".join(row) + " |")
    table = "\n".join(out)

    tout = ["| target | size | value | threshold | result |", "|---|---|---:|---:|---|"]
    for t in targets:
        v = t["value"]
        tout.append(
            f"| {t['target']} | {t['size']} | {fmt(v)} | {t['threshold']:g} | **{t['status']}**"
            + (f" ({t['detail']})" if t["detail"] else "") + " |"
        )
    ttable = "\n".join(tout)

    legend = (
        f"Median of {a.runs} run(s) after one warm-up, each on a fresh throwaway store; "
        f"`check`: median of {a.check_iters} calls after two warm-ups. Peak RSS is the maximum "
        "over the measured runs: *own* = the checkpointctl-image (or zstd) process itself "
        "(VmHWM), *tree* = the largest process of the case including children such as "
        "`podman --version` (`/usr/bin/time` %M). MiB/s is per MiB of uncompressed archive. Speed-up = buildah median wall / case median wall (same size and input). "
        "× floor = case median wall / floor median wall: `tar -x` + sha256 for buildah and "
        "containers-storage, `cp` + sha256 for `oci:`; for zst input the floor adds `zstd -d`."
    )

    hdr = (
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), kernel {machine['kernel']}, "
        f"load average {a.load_start} at start, {a.load_end} at end; "
        f"checkpointctl-image {a.tool_version} ({a.git_rev})"
    )
    print()
    print(f"## checkpointctl-image benchmark{' (smoke)' if a.smoke else ''}")
    print()
    print(hdr)
    print()
    print(table)
    print()
    print(legend)
    print()
    print("### Targets")
    print()
    print(ttable)
    print()

    doc = {
        "schema": 1,
        "command": a.cmdline,
        "started": a.started,
        "machine": machine,
        "load_average": {"start": a.load_start, "end": a.load_end},
        "tool": {"version": a.tool_version, "git": a.git_rev},
        "buildah": a.buildah_version,
        "runs": a.runs,
        "check_iterations": a.check_iters,
        "smoke": a.smoke,
        "archives": archives,
        "results": results,
        "targets": targets,
    }
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, ensure_ascii=False)
            f.write("\n")
        print(f"JSON written to {a.json}", file=sys.stderr)

    if a.results:
        arch = ["| size | input | bytes |", "|---|---|---:|"]
        for ar in archives:
            arch.append(f"| {ar['size']} | {ar['input']} | {ar['bytes']} |")
        md = [
            "# Benchmark results",
            "",
            f"Generated by `{a.cmdline}` (started {a.started}). Regenerate with "
            "`bash contrib/bench/bench.sh --write-results`; see README.md for what each case runs.",
            "",
            "## Machine",
            "",
            "| | |",
            "|---|---|",
            f"| CPUs (`nproc`) | {machine['nproc']} |",
            f"| CPU model | {machine['cpu_model']}{' (SHA-NI)' if machine['sha_ni'] else ''} |",
            f"| memory | {machine['mem_gib']} GiB |",
            f"| kernel | {machine['kernel']} |",
            f"| OS | {machine['os']} |",
            f"| date | {machine['date']} |",
            f"| load average (1/5/15 min) | start {a.load_start}; end {a.load_end} |",
            f"| checkpointctl-image | {a.tool_version} ({a.git_rev}) |",
            f"| buildah | {a.buildah_version} |",
            "",
            "A load average above the CPU count means other work shared the machine while this "
            "ran: absolute times are then pessimistic and ratios noisy.",
            "",
            "## Archives",
            "",
            "Synthetic Podman checkpoint archives (`gen-archive.sh`): the real members of "
            "`tests/fixtures/podman-5.4.2/runc/counter-none.tar` with `checkpoint/pages-*.img` "
            "making up the size, half random and half zero pages; zst = `zstd -3 -T0`.",
            "",
            "\n".join(arch),
            "",
            "## Results",
            "",
            table,
            "",
            legend,
            "",
            "## Targets (DESIGN.md)",
            "",
            ttable,
            "",
        ]
        with open(a.results, "w", encoding="utf-8") as f:
            f.write("\n".join(md))
        print(f"results written to {a.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
