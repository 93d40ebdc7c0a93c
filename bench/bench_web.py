#!/usr/bin/env python3
"""bench_web.py: the web leaderboard under load (issue 7's performance target).

A phase of 100 submissions x 38 cases is written by bench_web_data (real stored
case results, no containers), `segarena serve` serves it on loopback, and wrk
measures requests/s and the 99th-percentile latency of (a) the phase's HTML
leaderboard page and (b) its leaderboard JSON, once the cache is warm. Targets:
>= 2000 requests/s and p99 < 20 ms on the 2-core development machine. It also
times single uncached requests: the phase is re-published (bench_web_data
--touch), which changes its results version, so the next request builds the
board, its JSON and its page again. Last ("live", unless --no-live), wrk runs
again on both URLs while one more team's run is being evaluated in front of the
server (bench_web_data --live: a case result stored every --live-interval
seconds, as a worker does); the board itself changes only when that run is done.

    bench/bench_web.py [--segarena build/segarena] [--data-tool build/bench/bench_web_data]
                       [--submissions 100] [--cases 38] [--duration 10]
                       [--connections 32] [--threads 2] [--http-threads N]
                       [--live-interval 1.0] [--no-live] [--keep] [--strict]

Exit status: 0 measured (whatever the targets), 1 a step failed (among them any
answer to wrk that was not 2xx, or a socket error, in any run), 2 bad usage,
3 with --strict when a target is missed, 77 when wrk is not installed.
See docs/benchmarks.md.
"""
import argparse
import gzip
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

TARGET_RPS = 2000.0
TARGET_P99_MS = 20.0
COLD_REPEATS = 3


class BenchError(Exception):
    pass


def parse_args():
    p = argparse.ArgumentParser(description="wrk against the leaderboard page and its JSON")
    p.add_argument("--segarena", default="build/segarena")
    p.add_argument("--data-tool", default="build/bench/bench_web_data")
    p.add_argument("--submissions", type=int, default=100)
    p.add_argument("--cases", type=int, default=38)
    p.add_argument("--duration", type=int, default=10, help="seconds of wrk per URL")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--http-threads", type=int, default=0,
                   help="segarena serve --http-threads (default: the server's)")
    p.add_argument("--live-interval", type=float, default=1.0,
                   help="seconds between case results during the live measurement")
    p.add_argument("--no-live", action="store_true", help="skip the measurement during a run")
    p.add_argument("--keep", action="store_true", help="keep the data directory and the log")
    p.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    a = p.parse_args()
    if a.submissions < 1 or a.cases < 1 or a.duration < 1 or a.connections < 1 or a.threads < 1:
        p.error("counts and the duration must be positive")
    return a


def wrk_version(wrk):
    # `wrk --version` prints its banner and the usage, with exit status 1
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    line = (out.stdout + out.stderr).strip().splitlines()
    return line[0].strip() if line else "unknown"


def make_data(tool, workdir, submissions, cases):
    data_dir = os.path.join(workdir, "data")
    t0 = time.monotonic()
    out = subprocess.run([tool, "--submissions", str(submissions), "--cases", str(cases),
                          "--out", data_dir], capture_output=True, text=True)
    if out.returncode != 0:
        raise BenchError(f"{tool} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    phase = re.search(r"^phase: (\S+)$", out.stdout, re.M)
    if not phase:
        raise BenchError(f"{tool} did not name the phase:\n{out.stdout}")
    return data_dir, phase.group(1), time.monotonic() - t0, out.stderr.strip()


class Server:
    """`segarena serve` in the background on a free loopback port."""

    def __init__(self, segarena, data_dir, workdir, http_threads):
        self.port_file = os.path.join(workdir, "port")
        self.log_path = os.path.join(workdir, "serve.log")
        cmd = [segarena, "serve", "--data-dir", data_dir, "--bind", "127.0.0.1", "--port", "0",
               "--port-file", self.port_file, "--workers", "0"]
        if http_threads:
            cmd += ["--http-threads", str(http_threads)]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = None

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"segarena serve exited ({self.proc.returncode}):\n{self.log_text()}")
            if self.base is None and os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text.isdigit():
                    self.base = f"http://127.0.0.1:{text}"
            if self.base:
                try:
                    status, _ = get(self.base + "/api/v1/health")
                    if status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise BenchError(f"segarena serve did not answer /api/v1/health in {timeout:.0f} s:\n"
                         f"{self.log_text()}")

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def get(url, headers=None):
    """One GET on a new connection: (status, body)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def gzip_size(url, plain):
    """The size of the answer for a client that takes gzip (a browser), checked
    against the plain one; None when the server sent it plain."""
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=60) as r:
        body, encoding = r.read(), r.headers.get("Content-Encoding")
    if encoding != "gzip":
        return None
    if gzip.decompress(body) != plain:
        raise BenchError(f"GET {url} with gzip: not the plain answer gzip'd")
    return len(body)


def timed_get(url):
    t0 = time.perf_counter()
    status, body = get(url)
    elapsed = time.perf_counter() - t0
    if status != 200:
        raise BenchError(f"GET {url}: status {status}: {body[:300]!r}")
    return elapsed, body


def touch(tool, data_dir):
    out = subprocess.run([tool, "--touch", data_dir], capture_output=True, text=True)
    if out.returncode != 0:
        raise BenchError(f"{tool} --touch failed:\n{out.stderr}")


def check_bodies(page, board, submissions):
    if b"<html" not in page[:500].lower() and b"<!doctype html" not in page[:100].lower():
        raise BenchError("the leaderboard page is not HTML")
    doc = json.loads(board)
    rows = doc.get("rows")
    if not isinstance(rows, list) or len(rows) != submissions:
        raise BenchError(f"the leaderboard JSON has {len(rows) if isinstance(rows, list) else 'no'} "
                         f"rows, expected {submissions}")


def latency_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise BenchError(f"cannot read the latency '{text}'")
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m.group(2)]
    return float(m.group(1)) * scale


def run_wrk(wrk, url, args):
    # --timeout 30s: slow answers are counted in the latencies, not dropped as timeouts
    cmd = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "30s",
           "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60)
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise BenchError(f"wrk failed ({out.returncode}):\n{text}")
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    total = re.search(r"^\s+(\d+) requests in", text, re.M)
    if not (rps and p99 and p50 and total):
        raise BenchError(f"cannot read wrk's output:\n{text}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {
        "rps": float(rps.group(1)),
        "p50": latency_ms(p50.group(1)),
        "p99": latency_ms(p99.group(1)),
        "requests": int(total.group(1)),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
        "output": text,
    }


def run_wrk_live(wrk, url, args, data_dir):
    """wrk while bench_web_data --live stores a case result every live_interval s."""
    cmd = [args.data_tool, "--live", data_dir, "--cases", str(args.cases),
           "--interval", str(args.live_interval)]
    live = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(min(0.5, args.live_interval))
        result = run_wrk(wrk, url, args)
        if live.poll() is not None and live.returncode != 0:
            raise BenchError(f"bench_web_data --live failed:\n{live.stderr.read()}")
        result["live_done"] = live.poll() is not None
        return result
    finally:
        if live.poll() is None:
            live.terminate()
        live.wait()


def verdict(ok):
    return "ERRORS" if ok is None else "PASS" if ok else "MISS"


def main():
    args = parse_args()
    wrk = shutil.which("wrk")
    if not wrk:
        print("bench_web: wrk is not installed; install it with: apt-get install wrk "
              "(scripts/deps.sh lists it in SEGARENA_BENCH_PACKAGES)", file=sys.stderr)
        return 77
    for path, what in ((args.segarena, "--segarena"), (args.data_tool, "--data-tool")):
        if not os.access(path, os.X_OK):
            print(f"bench_web: {what} {path}: not an executable (build it first: cmake --build "
                  f"build --target segarena bench_web_data)", file=sys.stderr)
            return 2

    print(f"machine: {os.cpu_count()} cores (nproc), load average {os.getloadavg()[0]:.2f}; "
          f"{wrk_version(wrk)}")
    workdir = tempfile.mkdtemp(prefix="segarena-webbench-")
    server = None
    try:
        data_dir, phase, made_in, made_note = make_data(args.data_tool, workdir, args.submissions,
                                                        args.cases)
        print(f"data: {made_note or 'made'} ({made_in:.1f} s with the process), {data_dir}")
        challenge, name = phase.split("/", 1)
        server = Server(args.segarena, data_dir, workdir, args.http_threads)
        server.wait_ready()
        urls = {
            "page": f"{server.base}/challenges/{challenge}/phases/{name}",
            "json": f"{server.base}/api/v1/phases/{challenge}/{name}/leaderboard",
        }

        # Uncached: the first request after start, then each after a re-publication.
        first, _ = timed_get(urls["page"])
        cold = {"page": [], "json": []}
        for _ in range(COLD_REPEATS):
            for kind in ("page", "json"):
                touch(args.data_tool, data_dir)
                cold[kind].append(timed_get(urls[kind])[0])
        # Warm: the cache holds the board; also the size and sanity of each answer.
        warm, bodies = {}, {}
        for kind in ("page", "json"):
            times = []
            for _ in range(10):
                t, bodies[kind] = timed_get(urls[kind])
                times.append(t)
            warm[kind] = statistics.median(times)
        check_bodies(bodies["page"], bodies["json"], args.submissions)
        gz = {kind: gzip_size(urls[kind], bodies[kind]) for kind in ("page", "json")}

        results = {}
        runs = [(kind, kind) for kind in ("page", "json")]
        runs += [] if args.no_live else [("live " + kind, kind) for kind in ("page", "json")]
        for name, kind in runs:
            load_before = os.getloadavg()[0]
            cpu_before = cpu_seconds(server.proc.pid)
            if name.startswith("live"):
                results[name] = run_wrk_live(wrk, urls[kind], args, data_dir)
            else:
                results[name] = run_wrk(wrk, urls[kind], args)
            cpu_after = cpu_seconds(server.proc.pid)
            results[name]["load"] = load_before
            results[name]["cpu_ms"] = None
            if cpu_before is not None and cpu_after is not None and results[name]["requests"]:
                results[name]["cpu_ms"] = (cpu_after - cpu_before) * 1e3 / results[name]["requests"]
            if server.proc.poll() is not None:
                raise BenchError(f"segarena serve died during wrk:\n{server.log_text()}")
    except BenchError as e:
        print(f"bench_web: {e}", file=sys.stderr)
        return 1
    finally:
        if server:
            server.stop()
        if args.keep:
            print(f"kept: {workdir} (data/, serve.log)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"phase {phase}: {args.submissions} submissions x {args.cases} cases; "
          f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
          f"server with --workers 0{f' --http-threads {args.http_threads}' if args.http_threads else ''}")
    print()
    head = (f"{'URL':<9} {'bytes':>9} {'requests/s':>11} {'target >= 2000':>15} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'target < 20 ms':>15} {'warm 1 req ms':>14} {'cold 1 req ms (median [min-max])':>34}")
    print(head)
    print("-" * len(head))
    missed = False
    # An answer that was not 2xx or a socket error makes the run a failure, whatever
    # its rate: its requests/s and latencies count answers that are not the board.
    failed = [kind for kind in results if results[kind]["non_2xx"] or results[kind]["socket_errors"]]
    for kind in results:
        r = results[kind]
        base = kind.split()[-1]
        rps_ok, p99_ok = r["rps"] >= TARGET_RPS, r["p99"] < TARGET_P99_MS
        if kind in failed:
            rps_ok = p99_ok = None
        if kind in ("page", "json"):
            missed |= not (rps_ok and p99_ok)  # the targets are for the steady state
            c = [t * 1e3 for t in cold[kind]]
            extra = (f"{warm[kind] * 1e3:>14.2f} "
                     f"{f'{statistics.median(c):.1f} [{min(c):.1f}-{max(c):.1f}]':>34}")
        else:
            extra = f"{'':>14} {'(during a run)':>34}"
        rps_text = f"{r['rps']:.0f}" if r["rps"] >= 100 else f"{r['rps']:.1f}"
        print(f"{kind:<9} {len(bodies[base]):>9} {rps_text:>11} {verdict(rps_ok):>15} "
              f"{r['p50']:>8.2f} {r['p99']:>8.2f} {verdict(p99_ok):>15} {extra}")
    print()
    print(f"first request after start (page, nothing cached): {first * 1e3:.1f} ms")
    print("gzip'd for a client that takes it (Accept-Encoding: gzip; wrk sends none): " +
          ", ".join(f"{kind} {gz[kind]} bytes" if gz[kind] else f"{kind} sent plain"
                    for kind in ("page", "json")))
    if not args.no_live:
        print(f"live: wrk while one more run is evaluated, a case result every "
              f"{args.live_interval:g} s (bench_web_data --live); not judged by --strict; its "
              f"new submission makes one rebuild, by the page cache's builder thread while "
              f"the request that noticed waits suspended (wrk counts a stalled connection's "
              f"missed requests into its latencies)")
    for kind in results:
        r = results[kind]
        note = f"{kind}: {r['requests']} requests, load average {r['load']:.2f} before wrk"
        if r["cpu_ms"] is not None:
            note += f", server CPU {r['cpu_ms']:.3f} ms per request"
        if kind in failed:
            note += f"; !! {r['non_2xx']} non-2xx answers, socket errors: {r['socket_errors'] or 'none'}"
        print(note)
    print("single-request times are one urllib GET on a new connection (client included); cold ones "
          "follow `bench_web_data --touch` (the phase re-published: the cached board is stale)")
    if failed:
        print(f"bench_web: FAILED: wrk got answers that were not 2xx, or socket errors, on {', '.join(failed)} "
              f"(above): the numbers cannot be trusted", file=sys.stderr)
        print("FAILED: not every answer was a 2xx (exit status 1)")
        return 1
    if missed:
        print("at least one target missed" + (" (--strict: exit status 3)" if args.strict else ""))
    return 3 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
