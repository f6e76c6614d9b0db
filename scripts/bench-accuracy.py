#!/usr/bin/env python3
"""bench-accuracy.py - do tlsdiag's findings on the benchmark capture match its scenario labels?

Usage:
  scripts/bench-accuracy.py [options] [BENCH.jsonl]

  BENCH.jsonl       `tlsdiag analyze --format jsonl` output for a capture made by
                    ../shared/bench/make-bench-pcap.sh --from-seed (optional: without it only
                    the seed is checked)
  --manifest FILE   the seed's manifest (default: seed.manifest.jsonl beside the seed)
  --seed FILE       the seed capture (default: the bench summary's "seed", else
                    ../shared/bench/seed.pcap)
  --seed-jsonl FILE tlsdiag's jsonl output for the seed (default: run --tlsdiag on the seed)
  --tlsdiag BIN     the binary to run on the seed (default: target/release/tlsdiag)
  --summary FILE    the bench capture's NAME.pcap.summary.json (default: found from the
                    jsonl's "path"); gives the number of copies
  --markdown        print the table as Markdown (for docs/performance.md)

With BENCH.jsonl the seed's table is printed only when the seed disagrees.

What it checks:
  1. The seed: tlsdiag runs on seed.pcap; each connection is matched to its manifest line by
     (client address, client port, server port) - for IPv6 the client is always ::1, so the
     port decides. Each connection's findings and outcome must meet the expectation its
     manifest line implies (`expectation()` below: scenario, ok, expect, version, resumed, sni).
  2. The bench capture: each connection is mapped back to (copy k, seed connection f) by
     redoing benchpcap.py's replication arithmetic (copy k: IPv4 client 127.64.0.0/10 + k*16 +
     the seed client's last octet, server 127.0.0.(10 + k mod 4), ephemeral client port shifted
     by k*7919 modulo the range; IPv6 stays on ::1 with client port 32768 + k*n6 + its index).
     Every (k, f) must appear exactly once, every connection must meet its expectation, and
     every copy must give the seed's per-scenario counts of (findings, outcome) - so the totals
     are the seed's times the number of copies.

Exit status: 0 everything agrees, 1 a disagreement (listed), 2 a usage or input error.
"""

import argparse
import collections
import ipaddress
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BENCH_DIR = os.path.normpath(os.path.join(REPO, "..", "shared", "bench"))

# benchpcap.py's constants; imported when the generator is there so that a change follows.
EPH_LO, EPH_N = 32768, 28232
try:
    sys.path.insert(0, BENCH_DIR)
    import benchpcap  # noqa: E402

    EPH_LO, EPH_N = benchpcap.EPH_LO, benchpcap.EPH_N
except Exception:  # the generator is optional: the defaults are its values
    pass
finally:
    sys.path.pop(0)

# Literals of benchpcap.py cmd_replicate/copy_plan (not importable: they sit inside a function).
V4_CLIENT_BASE = 0x7F400000  # 127.64.0.0/10
V4_CLIENT_MASK = 0x3FFFFF
PORT_STRIDE = 7919

# A failing handshake's alert (manifest `expect.alert`) -> the rule that must explain it.
ALERT_RULE = {
    "protocol_version": "protocol_version_mismatch",
    "handshake_failure": "no_shared_cipher",
    "unknown_ca (sent by client)": "client_rejected_certificate",
    # unrecognized_name: missing_sni when the ClientHello had no SNI, else unrecognized_name
}

ARTIFACT = "certificate_not_yet_valid"


class Expect:
    """What one connection must show: required rules (with severity), tolerated rules, outcome."""

    def __init__(self, required, allowed, outcome, note=""):
        self.required = required  # {rule: severity}
        self.allowed = allowed  # {rule: why}
        self.outcome = outcome
        self.note = note

    def label(self):
        parts = [f"{r} ({s})" for r, s in sorted(self.required.items()) if r != ARTIFACT]
        main = ", ".join(parts) or "no finding"
        if ARTIFACT in self.required:
            main += f" + {ARTIFACT}†"
        elif ARTIFACT in self.allowed:
            main += f" [+ {ARTIFACT}† if TLS 1.2]"
        return main


def expectation(m):
    """The expectation a manifest line implies (scenario, ok, expect, version, resumed, sni)."""
    e = m.get("expect") or {}
    scen = m.get("scenario", "?")
    version = m.get("version") or e.get("version")
    required, allowed, note = {}, {}, ""
    if m.get("ok") is False:
        alert = e.get("alert")
        if alert == "unrecognized_name":
            required["missing_sni" if m.get("sni") is None else "unrecognized_name"] = "error"
        elif alert in ALERT_RULE:
            required[ALERT_RULE[alert]] = "error"
        else:
            raise ValueError(f"{scen}: no rule known for alert {alert!r}")
        outcome = "handshake_failed"
        if alert == "unknown_ca (sent by client)":
            # The manifest does not say which attempts were TLS 1.2 (certificate in clear).
            allowed[ARTIFACT] = "TLS 1.2 attempts show the certificate"
    elif e.get("close") == "client RST":
        outcome = "reset"
        required["client_aborted_handshake"] = "error"
        note = ("the client resets after the server's flight, without an alert: "
                "client_aborted_handshake; reset_after_clienthello (a RST from the server's "
                "side) must not fire")
    elif e.get("close") == "server":
        required["idle_timeout_close"] = "info"
        if e.get("handshake") == "incomplete":
            outcome = "handshake_incomplete"
        elif version:
            outcome = "handshake_ok"
        else:
            outcome = "no_data"
    elif e.get("tls") is False:
        outcome = "not_tls"
        required["plaintext_to_tls_port"] = "error"
        note = "plain HTTP to port 443 (nginx answers 400)"
    else:
        outcome = "handshake_ok"
    # The certificate is in clear in a full TLS 1.2 handshake. The seed's certificates were made
    # when the seed was captured, but benchpcap.py moves its first packet to 2024-01-01: at
    # capture time they are not yet valid, and tlsdiag is right to say so.
    if version == "TLSv1.2" and not m.get("resumed"):
        required[ARTIFACT] = "error"
        if e.get("cert") == "default self-signed":
            required["certificate_self_signed"] = "warning"
    return Expect(required, allowed, outcome, note)


def check(conn, exp):
    """Returns a list of reasons the connection disagrees (empty: it agrees)."""
    why = []
    got = {f["rule"]: f["severity"] for f in conn.get("findings", [])}
    for rule, sev in exp.required.items():
        if rule not in got:
            why.append(f"missing {rule}")
        elif got[rule] != sev:
            why.append(f"{rule} is {got[rule]}, expected {sev}")
    for rule in got:
        if rule not in exp.required and rule not in exp.allowed:
            why.append(f"unexpected {rule} ({got[rule]})")
    if conn.get("outcome") != exp.outcome:
        why.append(f"outcome {conn.get('outcome')}, expected {exp.outcome}")
    return why


def signature(conn):
    fs = sorted(f"{f['rule']}({f['severity']})" for f in conn.get("findings", []))
    return ", ".join(fs) or "-"


def split_endpoint(s):
    host, port = s.rsplit(":", 1)
    return host.strip("[]"), int(port)


def read_jsonl(path):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{n}: not JSON ({e})")


def seed_key(m):
    """(client address, client port, server port) of a manifest line."""
    return (str(ipaddress.ip_address(m["client"])), m["cport"], m["sport"])


def copy_map(manifest, copies):
    """(client, cport, server, sport) in the bench capture -> (copy k, seed flow f)."""
    v6 = sorted(m["flow"] for m in manifest.values() if m.get("family") == 6)
    v6_index = {f: i for i, f in enumerate(v6)}
    n6 = max(1, len(v6))
    out = {}
    for k in range(copies):
        for f, m in manifest.items():
            cport, sport = m["cport"], m["sport"]
            if m.get("family") == 6:
                c = s = m["client"]
                cp = EPH_LO + (k * n6 + v6_index[f]) % EPH_N
            else:
                c_old = int(ipaddress.IPv4Address(m["client"]))
                s_old = int(ipaddress.IPv4Address(m["server"]))
                c = str(ipaddress.IPv4Address(V4_CLIENT_BASE + ((k * 16 + (c_old & 0xFF)) & V4_CLIENT_MASK)))
                s = str(ipaddress.IPv4Address(s_old + k % 4))
                cp = EPH_LO + (cport - EPH_LO + k * PORT_STRIDE) % EPH_N if EPH_LO <= cport < EPH_LO + EPH_N else cport
            key = (str(ipaddress.ip_address(c)), cp, str(ipaddress.ip_address(s)), sport)
            if key in out:
                raise SystemExit(f"replication map collision for copy {k}, flow {f}: {key}")
            out[key] = (k, f)
    return out


class Tally:
    def __init__(self):
        self.n = collections.Counter()
        self.agree = collections.Counter()
        self.got = collections.defaultdict(collections.Counter)
        self.bad = []  # (scenario, where, reasons)

    def add(self, scen, conn, exp, where):
        self.n[scen] += 1
        why = check(conn, exp)
        self.got[scen][f"{signature(conn)} / {conn.get('outcome')}"] += 1
        if why:
            self.bad.append((scen, where, why))
        else:
            self.agree[scen] += 1


def table(manifest, tally, markdown, title):
    labels = collections.defaultdict(set)
    for m in manifest.values():
        labels[m["scenario"]].add(expectation(m).label())
    rows = []
    for scen in sorted(tally.n):
        n, a = tally.n[scen], tally.agree[scen]
        got = "; ".join(f"{sig} ×{c}" for sig, c in tally.got[scen].most_common())
        rows.append((scen, str(n), " | ".join(sorted(labels[scen])), got, f"{100.0 * a / n:.1f}%"))
    total_n, total_a = sum(tally.n.values()), sum(tally.agree.values())
    rows.append(("all", str(total_n), "", "", f"{100.0 * total_a / max(1, total_n):.2f}%"))
    head = ("scenario", "connections", "expected finding", "got (findings / outcome × connections)", "agreement")
    print(f"\n{title}\n")
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            print("| " + " | ".join(x.replace("|", "\\|") for x in r) + " |")
    else:
        w = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
        for r in [head] + rows:
            print(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[4]:>9}  {r[2]:<{w[2]}}  {r[3]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("jsonl", nargs="?")
    ap.add_argument("--manifest")
    ap.add_argument("--seed")
    ap.add_argument("--seed-jsonl")
    ap.add_argument("--tlsdiag", default=os.path.join(REPO, "target", "release", "tlsdiag"))
    ap.add_argument("--summary")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    # The bench capture's summary: copies, and the seed it was made from.
    summary = None
    if args.jsonl:
        spath = args.summary
        if not spath:
            first = next(read_jsonl(args.jsonl), None)
            if first is None:
                print(f"{args.jsonl}: no connections", file=sys.stderr)
                return 2
            spath = first["path"] + ".summary.json"
        try:
            with open(spath) as f:
                summary = json.load(f)
        except OSError as e:
            print(f"cannot read the bench summary ({e}); pass --summary", file=sys.stderr)
            return 2
    seed = args.seed or (summary or {}).get("seed") or os.path.join(BENCH_DIR, "seed.pcap")
    mpath = args.manifest or os.path.splitext(seed)[0] + ".manifest.jsonl"
    try:
        manifest = {m["flow"]: m for m in read_jsonl(mpath) if m.get("flow") is not None}
    except OSError as e:
        print(f"cannot read the manifest: {e}", file=sys.stderr)
        return 2
    by_key = {seed_key(m): f for f, m in manifest.items()}
    expect = {f: expectation(m) for f, m in manifest.items()}

    # 1. The seed.
    if args.seed_jsonl:
        seed_conns = list(read_jsonl(args.seed_jsonl))
    else:
        try:
            out = subprocess.run([args.tlsdiag, "analyze", "--format", "jsonl", seed],
                                 check=True, capture_output=True, text=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"cannot run {args.tlsdiag} on {seed}: {e}", file=sys.stderr)
            return 2
        seed_conns = [json.loads(x) for x in out.splitlines() if x.strip()]
    seed_tally, seed_counts, seen = Tally(), collections.Counter(), set()
    problems = []
    for c in seed_conns:
        ch, cp = split_endpoint(c["client"])
        _, sp = split_endpoint(c["server"])
        f = by_key.get((str(ipaddress.ip_address(ch)), cp, sp))
        if f is None:
            problems.append(f"seed stream {c['stream']} ({c['client']} -> {c['server']}) is in no manifest line")
            continue
        seen.add(f)
        scen = manifest[f]["scenario"]
        seed_tally.add(scen, c, expect[f], f"seed stream {c['stream']}")
        seed_counts[(scen, signature(c), c.get("outcome"))] += 1
    for f in sorted(set(manifest) - seen):
        problems.append(f"manifest flow {f} ({manifest[f]['scenario']}) has no connection in the seed output")
    seed_title = f"Seed ({seed}): {len(seed_conns)} connections"
    if args.jsonl and not seed_tally.bad and not problems:
        print(f"{seed_title}, {sum(seed_tally.agree.values())} agree with their manifest line")
    else:
        table(manifest, seed_tally, args.markdown, seed_title)

    # 2. The bench capture.
    big_tally = None
    if args.jsonl:
        copies = int(summary["copies"])
        cmap = copy_map(manifest, copies)
        big_tally = Tally()
        per_copy = collections.defaultdict(collections.Counter)
        found = collections.Counter()
        nconn = 0
        for c in read_jsonl(args.jsonl):
            nconn += 1
            ch, cp = split_endpoint(c["client"])
            sh, sp = split_endpoint(c["server"])
            kf = cmap.get((str(ipaddress.ip_address(ch)), cp, str(ipaddress.ip_address(sh)), sp))
            if kf is None:
                problems.append(f"bench stream {c['stream']} ({c['client']} -> {c['server']}) maps to no seed connection")
                continue
            k, f = kf
            found[kf] += 1
            scen = manifest[f]["scenario"]
            big_tally.add(scen, c, expect[f], f"bench stream {c['stream']} (copy {k}, seed flow {f})")
            per_copy[k][(scen, signature(c), c.get("outcome"))] += 1
        dup = [kf for kf, n in found.items() if n > 1]
        missing = len(cmap) - len(found)
        if dup:
            problems.append(f"{len(dup)} seed connections appear more than once in a copy, e.g. copy {dup[0][0]} flow {dup[0][1]}")
        if missing:
            problems.append(f"{missing} of {len(cmap)} (copy, seed connection) pairs have no connection in the output")
        differ = [k for k in range(copies) if per_copy[k] != seed_counts]
        if differ:
            k = differ[0]
            delta = (per_copy[k] - seed_counts) + (seed_counts - per_copy[k])
            problems.append(f"{len(differ)} of {copies} copies differ from the seed's per-scenario counts; "
                            f"copy {k}: {dict(delta)}")
        table(manifest, big_tally, args.markdown,
              f"Bench capture ({summary.get('pcap', args.jsonl)}): {nconn} connections, {copies} copies; "
              f"copies identical to the seed: {copies - len(differ)}/{copies}")

    # Notes and disagreements.
    print("\n† certificate_not_yet_valid: a benchmark artifact. The seed's certificates were made when the"
          "\n  seed was captured, and benchpcap.py moves the capture to 2024-01-01, so at capture time every"
          "\n  certificate sent in clear (full TLS 1.2 handshakes) is not yet valid. Required there, forbidden"
          "\n  elsewhere.")
    notes = sorted({(m["scenario"], expect[f].note) for f, m in manifest.items() if expect[f].note})
    for scen, note in notes:
        print(f"  {scen}: {note}")
    bad = seed_tally.bad + (big_tally.bad if big_tally else [])
    if bad or problems:
        print(f"\nDISAGREEMENT: {len(bad)} connections, {len(problems)} other problems")
        by = collections.defaultdict(list)
        for scen, where, why in bad:
            by[(scen, "; ".join(why))].append(where)
        for (scen, why), wheres in sorted(by.items()):
            print(f"  {scen}: {why}: {len(wheres)} connections, e.g. {', '.join(wheres[:3])}")
        for p in problems:
            print(f"  {p}")
        return 1
    print("\nOK: every connection agrees with its scenario")
    return 0


if __name__ == "__main__":
    sys.exit(main())
