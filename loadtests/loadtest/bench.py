"""`make bench-k6`: what k6's outputs cost the generator, per request, side by side.

For each rate and each way of writing the run (below), one `steady` run of the real profile scripts
against delay-echo on 127.0.0.1 (80 ms, its default), with the web dashboard and the summary export
on as `make loadtest` has them. It prints k6's CPU time (user + system, from the kernel: wait4) per
completed request, that of any helper process, and the bytes per request each output leaves in the
run folder. The ways, in a different order in each round, because the machine is shared and its
load drifts:

  csv              k6's CSV, gzip-compressed by k6 (`--out csv=raw.csv.gz`)
  csv+records      the same, and one JSON line per request (RECORDS=1, --console-output)
  records          the record lines only, no CSV
  records+dropped  the record lines, and the CSV into a FIFO that `grep` reduces to what the
                   records do not carry (dropped_iterations; echo_run_start is in both)

The record file is compressed after k6 exits (as the loadtest does); its gzip CPU is printed apart.
A benchmark, not a test: it prints, it asserts nothing. Every setting is a flag with an environment
twin named as make names it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loadtests.core import flags, tools
from loadtests.core.service import LogLine, Service, listening

from .settings import K6_DIR

WAYS = ("csv", "csv+records", "records", "records+dropped")
# What a reduced CSV keeps: the rows of k6's own that the analysis reads and the records lack.
DROPPED = "^(dropped_iterations|echo_run_start),"


@dataclass(frozen=True)
class Cost:
    way: str
    rate: int
    requests: int
    dropped: int
    k6_cpu_s: float
    helper_cpu_s: float  # grep for records+dropped
    gzip_cpu_s: float  # compressing the record file after the run
    csv_bytes: int
    records_bytes: int  # compressed
    records_plain_bytes: int

    @property
    def cpu_us_per_request(self) -> float:
        return 1e6 * (self.k6_cpu_s + self.helper_cpu_s) / max(self.requests, 1)

    @property
    def bytes_per_request(self) -> float:
        return (self.csv_bytes + self.records_bytes) / max(self.requests, 1)


def _cpu(pid: int) -> tuple[int, float]:
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def run_one(k6: Path, target: str, way: str, rate: int, duration: str, folder: Path) -> Cost:
    """One k6 run writing its outputs `way` into `folder` (created empty)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    records = way != "csv"
    argv = [str(k6), "run", "--no-usage-report", "--quiet"]
    argv += ["--summary-export", str(folder / "summary.json")]
    if records:
        argv += ["--log-format", "raw", "--console-output", str(folder / "records.jsonl")]
    helper = None
    if way in ("csv", "csv+records"):
        argv += ["--out", f"csv={folder / 'raw.csv.gz'}"]
    elif way == "records+dropped":
        fifo = folder / "samples.fifo"
        os.mkfifo(fifo)
        argv += ["--out", f"csv={fifo}"]
        reduce = 'exec grep -E "$1" < "$2" > "$3"'
        helper = subprocess.Popen(
            ["sh", "-c", reduce, "reduce", DROPPED, str(fifo), str(folder / "raw.csv")]
        )
    argv.append(str(K6_DIR / "steady.js"))
    env = {
        **os.environ,
        "BASE_URL": target,
        "RATE": str(rate),
        "DURATION": duration,
        "RECORDS": "1" if records else "0",
        "K6_CSV_TIME_FORMAT": "unix_milli",
        "K6_WEB_DASHBOARD": "true",
        "K6_WEB_DASHBOARD_PORT": "-1",
        "K6_WEB_DASHBOARD_PERIOD": "1s",
        "K6_WEB_DASHBOARD_EXPORT": str(folder / "dashboard.html"),
    }
    with (folder / "k6.log").open("wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        rc, k6_cpu = _cpu(proc.pid)
    helper_cpu = _cpu(helper.pid)[1] if helper is not None else 0.0
    if rc not in (0, 99):
        raise RuntimeError(f"k6 exited {rc} ({way} at {rate}/s); see {folder / 'k6.log'}")
    metrics = json.loads((folder / "summary.json").read_text())["metrics"]
    requests = int(metrics.get("http_reqs", {}).get("count", 0))
    dropped = int(metrics.get("dropped_iterations", {}).get("count", 0))
    plain = gz = 0
    gzip_cpu = 0.0
    if records:
        plain = (folder / "records.jsonl").stat().st_size
        proc = subprocess.Popen(["gzip", "-f", str(folder / "records.jsonl")])
        gzip_cpu = _cpu(proc.pid)[1]
        gz = (folder / "records.jsonl.gz").stat().st_size
    csv = sum(
        (folder / n).stat().st_size for n in ("raw.csv.gz", "raw.csv") if (folder / n).exists()
    )
    return Cost(way, rate, requests, dropped, k6_cpu, helper_cpu, gzip_cpu, csv, gz, plain)


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    ap = argparse.ArgumentParser(prog="python -m loadtests.loadtest.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    flags.add(ap, "--rates", "BENCH_K6_RATES", env, default="1000,3000",
              help="comma-separated request rates, req/s")  # fmt: skip
    flags.add(ap, "--duration", "BENCH_K6_DURATION", env, default="20s",
              help="length of each run (k6 notation)")  # fmt: skip
    flags.add(ap, "--rounds", "BENCH_K6_ROUNDS", env, type=int, default=2,
              help="each way this many times per rate, in rotating order")  # fmt: skip
    flags.add(ap, "--ways", "BENCH_K6_WAYS", env, default=",".join(WAYS),
              help=f"comma-separated, of: {', '.join(WAYS)}")  # fmt: skip
    args = ap.parse_args(argv)
    try:
        rates = [int(r) for r in args.rates.split(",") if r]
    except ValueError:
        ap.error(f"--rates takes whole request rates such as 1000,3000, got {args.rates!r}")
    ways = [w for w in args.ways.split(",") if w]
    if not rates or min(rates) < 1:
        ap.error("--rates: at least one rate, each 1 or more")
    if not ways or any(w not in WAYS for w in ways):
        ap.error(f"--ways {args.ways!r}: allowed: {', '.join(WAYS)}")
    if args.rounds < 1:
        ap.error("--rounds must be 1 or more")
    k6 = tools.k6()
    echo = tools.delay_echo()
    for tool in (k6, echo):
        if not tool.exists():
            ap.error(f"no {tool.name} at {tool.path}")
    work = Path(tempfile.mkdtemp(prefix="delay-echo-bench-k6-"))
    print(
        f"{'way':<16} {'req/s':>6} {'requests':>9} {'dropped':>7} {'k6 cpu s':>8} {'µs/req':>7} "
        f"{'B/req':>6} {'csv B/req':>9} {'rec B/req':>9} {'(plain)':>7} {'gzip s':>6} {'load1':>5}",
        flush=True,
    )
    try:
        with Service(
            [str(echo.path), "--listen", "127.0.0.1:0"], ready=LogLine(listening())
        ) as svc:
            target = f"http://{svc.address}"
            for rate in rates:
                for r in range(args.rounds):
                    order = ways[r % len(ways):] + ways[: r % len(ways)]  # fmt: skip
                    for way in order:
                        c = run_one(k6.path, target, way, rate, args.duration, work / way)
                        n = max(c.requests, 1)
                        print(
                            f"{way:<16} {rate:>6} {c.requests:>9,} {c.dropped:>7} {c.k6_cpu_s:>8.1f} "
                            f"{c.cpu_us_per_request:>7.0f} {c.bytes_per_request:>6.1f} "
                            f"{c.csv_bytes / n:>9.1f} {c.records_bytes / n:>9.1f} "
                            f"{c.records_plain_bytes / n:>7.0f} {c.gzip_cpu_s:>6.2f} "
                            f"{os.getloadavg()[0]:>5.1f}",
                            flush=True,
                        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
