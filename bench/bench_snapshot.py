"""Benchmark: market snapshot of the 1,000-portfolio demo model (issue #3).

Measures ``data.snapshot.build_market_snapshot`` for "Global Equity Core" three ways and prints times, HTTP request
counts and ratios:

1. in-process simulator (httpx transport, no sockets);
2. the simulator served by ``python -m data.simulator`` on loopback ports (real sockets);
3. the same with 5 % injected 503s on every endpoint (seeded, never more than 3 in a row on one path, so they recover
   within the default retry budget), default retry policy (backoff 1 s, 2 s, 4 s).

Caches are cleared before every run, so each run makes its bulk security/price calls. Target: under 10 s on
sockets with faults that recover within the retry budget, and no failed portfolio.

    .venv/bin/python bench/bench_snapshot.py [--runs 3] [--concurrency 16] [--fault-rate 0.05]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.demo import load_demo
from data.services import build_services
from data.settings import SERVICE_NAMES, Settings
from data.simulator import InProcessTransport, SimulatorConfig, sim_app
from data.snapshot import MarketSnapshot, build_market_snapshot
from tests.support.simulator import served_simulator

MODEL = "Global Equity Core"


def measure(services, model, runs: int, concurrency: int) -> tuple[list[float], list[MarketSnapshot]]:
    times, snaps = [], []
    for _ in range(runs):
        services.clear_caches()
        start = time.perf_counter()
        snaps.append(build_market_snapshot(services, model, max_concurrency=concurrency))
        times.append(time.perf_counter() - start)
    return times, snaps


def line(label: str, times: list[float], snaps: list[MarketSnapshot], extra: str = "") -> float:
    med = statistics.median(times)
    runs = " ".join(f"{t:.2f}" for t in times)
    failed = max(len(s.failures) for s in snaps)
    requests = " ".join(str(s.requests) for s in snaps)
    print(f"{label:<26} median {med:6.2f} s  (runs {runs})  requests {requests}  failed portfolios {failed}{extra}")
    return med


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    args = parser.parse_args()

    demo = load_demo()
    model = demo.model(MODEL)
    needed = {p.security_id for p in model.positions}
    print(f'snapshot of "{MODEL}": {len(model.portfolios):,} portfolios, {len(needed)} model securities, '
          f"concurrency {args.concurrency}, {args.runs} runs each")  # fmt: skip

    app = sim_app(SimulatorConfig(price_mode="fixed"))
    transport = InProcessTransport(app)
    try:
        with build_services(Settings(simulator_price_mode="fixed"), transport=transport) as svc:
            t_local, s_local = measure(svc, model, args.runs, args.concurrency)
    finally:
        transport.shutdown()
    base = line("in-process", t_local, s_local)

    with served_simulator(price_mode="fixed") as served:
        settings = Settings(**{f"{name}_url": served.urls[name] for name in SERVICE_NAMES})
        with build_services(settings) as svc:
            t_sock, s_sock = measure(svc, model, args.runs, args.concurrency)
            sock = line("loopback sockets", t_sock, s_sock, f"  x{statistics.median(t_sock) / base:.1f} in-process")

            # At most 3 in a row per path: faults that recover within the default retry budget (1 + 3 retries).
            fault = {"kind": "error", "status": 503, "rate": args.fault_rate, "max_consecutive": 3}
            served.set_faults([fault], seed=42)
            served.clear_calls()
            t_fault, s_fault = measure(svc, model, args.runs, args.concurrency)
            injected = sum(1 for c in served.calls() if c["status"] == 503)
            faulty = line(
                f"sockets + {args.fault_rate:.0%} 503s",
                t_fault,
                s_fault,
                f"  x{statistics.median(t_fault) / sock:.1f} clean sockets; {injected} injected 503s retried",
            )
    worst = max(t_fault)
    ok = worst < 10 and all(not s.failures for s in s_fault + s_sock)
    print(f"target: < 10 s on sockets with recovering faults, no failed portfolio -> worst {worst:.2f} s: "
          f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
    del faulty
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
