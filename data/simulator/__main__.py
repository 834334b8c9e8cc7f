"""``python -m data.simulator``: serve the five simulated GlobeCo services on loopback ports.

Prints one ``<name> <base URL>`` line per service (accounting, portfolio, pricing, security, order), then serves
until interrupted. Examples::

    python -m data.simulator                                  # free ports, live prices
    python -m data.simulator --ports 8087,8000,8083,8001,8081 --price-mode fixed
    python -m data.simulator --ports accounting=8087,pricing=8083 --faults faults.json --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path

from data.simulator.app import sim_app
from data.simulator.config import SERVICES, Fault, SimulatorConfig
from data.simulator.serve import serve


def parse_ports(text: str | None) -> dict[str, int]:
    """``a,b,c,d,e`` (in service order) or ``name=port,...``; missing or 0 -> a free port."""
    if not text:
        return {}
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if all("=" in p for p in parts):
        ports = {}
        for part in parts:
            name, _, port = part.partition("=")
            if name.strip() not in SERVICES:
                raise argparse.ArgumentTypeError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")
            ports[name.strip()] = int(port)
        return ports
    if any("=" in p for p in parts) or len(parts) != len(SERVICES):
        raise argparse.ArgumentTypeError(f"--ports takes {len(SERVICES)} ports ({','.join(SERVICES)}) or name=port")
    return dict(zip(SERVICES, (int(p) for p in parts), strict=True))


def load_faults(text: str | None) -> list[Fault]:
    """Faults from a JSON file path or inline JSON (a list of Fault objects)."""
    if not text:
        return []
    raw = Path(text).read_text(encoding="utf-8") if Path(text).is_file() else text
    data = json.loads(raw)
    return [Fault.model_validate(f) for f in (data.get("faults", []) if isinstance(data, dict) else data)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m data.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=parse_ports, default={}, help="5 ports in service order, or name=port pairs")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--price-mode", choices=["fixed", "seeded", "live"], default="live")
    parser.add_argument("--seed", type=int, default=0, help="seed of seeded prices and fault draws")
    parser.add_argument("--faults", help="JSON file or inline JSON list of faults (see data.simulator.config.Fault)")
    parser.add_argument("--dataset", help="folder with the dataset files (default: the committed demo data)")
    parser.add_argument("--accounting-empty-status", type=int, choices=[404, 500], default=500)
    args = parser.parse_args(argv)
    config = SimulatorConfig(
        price_mode=args.price_mode,
        seed=args.seed,
        faults=load_faults(args.faults),
        dataset=args.dataset,
        accounting_empty_status=args.accounting_empty_status,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(sim_app(config), args.ports, args.host))


if __name__ == "__main__":
    main()
