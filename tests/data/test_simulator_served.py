"""``python -m data.simulator`` on real loopback sockets: CLI output, clients by URL, admin faults, the probe CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from data.demo import load_demo
from data.services import build_services
from data.settings import Settings
from data.simulator import SimulatorConfig, sim_app
from data.snapshot import build_market_snapshot
from engine.errors import ServiceUnavailable
from tests.support.net import free_port
from tests.support.simulator import ROOT, ServedSimulator, fast_settings, inprocess_transport, served_simulator

DEMO = load_demo()
SMALL = DEMO.model("Technology Leaders")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSimulator]:
    with served_simulator(price_mode="fixed", log_path=tmp_path_factory.mktemp("sim") / "sim.log") as sim:
        yield sim


@pytest.fixture(autouse=True)
def _clean(served: ServedSimulator) -> None:
    served.clear_faults()
    served.clear_calls()


def url_settings(served: ServedSimulator, **over) -> Settings:
    return fast_settings(**{f"{name}_url": url for name, url in served.urls.items()}, **over)


def test_cli_prints_one_loopback_url_per_service(served):
    assert list(served.urls) == ["accounting", "portfolio", "pricing", "security", "order"]
    assert all(re.match(r"^http://127\.0\.0\.1:\d+$", url) for url in served.urls.values())
    assert len(set(served.urls.values())) == 5
    assert set(served) == {"ACCOUNTING_URL", "PORTFOLIO_URL", "PRICING_URL", "SECURITY_URL", "ORDER_URL"}


def test_clients_by_url_over_sockets_match_the_in_process_simulator(served, monkeypatch):
    for key, value in served.items():
        monkeypatch.setenv(key, value)
    with build_services(Settings(http_backoff=0.001)) as svc:  # URLs from the environment variables
        assert svc.describe() == served.urls
        assert all(h.ok for h in svc.health().values())
        over_sockets = build_market_snapshot(svc, SMALL)
    transport = inprocess_transport(sim_app(SimulatorConfig(price_mode="fixed")))
    try:
        with build_services(fast_settings(), transport=transport) as local:
            in_process = build_market_snapshot(local, SMALL)
    finally:
        transport.shutdown()
    assert over_sockets.portfolios == in_process.portfolios
    assert over_sockets.prices == in_process.prices and not over_sockets.failures
    summaries = served.calls("accounting", "summary")
    assert len(summaries) == len(SMALL.portfolios) and {c["status"] for c in summaries} == {200}


def test_a_dropped_connection_over_a_real_socket(served):
    served.set_faults([{"kind": "drop", "service": "pricing"}])
    with build_services(url_settings(served, http_retries=1)) as svc, pytest.raises(ServiceUnavailable) as err:
        svc.pricing.price("AAPL")
    assert err.value.details["reason"] in ("RemoteProtocolError", "ReadError")
    assert len(served.calls("pricing", "price")) == 2


def test_a_hanging_service_times_out_over_a_real_socket(served):
    served.set_faults([{"kind": "timeout", "service": "security", "delay": 5}])
    settings = url_settings(served, http_timeout=0.3, http_retries=0)
    with build_services(settings) as svc, pytest.raises(ServiceUnavailable, match="did not answer") as err:
        svc.security.all_securities()
    assert err.value.details["reason"] == "ReadTimeout"


def test_faults_set_at_runtime_recover(served):
    served.set_faults([{"kind": "error", "service": "accounting", "status": 503, "count": 2}])
    with build_services(url_settings(served)) as svc:
        pid = SMALL.portfolios[0]
        assert svc.accounting.summary(pid) == DEMO.holdings(pid)
    assert [c["status"] for c in served.calls("accounting")] == [503, 503, 200]


def test_probe_cli_against_the_served_simulator(served):
    args = [f"--{name}-url={url}" for name, url in served.urls.items()]
    run = subprocess.run(
        [sys.executable, "-m", "data.probe", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"\d+ checks: \d+ ok, 0 failed, 0 skipped", run.stdout)


def test_chosen_ports_and_a_clean_stop_on_interrupt():
    ports = [free_port() for _ in range(5)]
    with served_simulator(ports=",".join(map(str, ports))) as sim:
        assert [int(u.rsplit(":", 1)[1]) for u in sim.urls.values()] == ports
        process = sim.process
    assert process.returncode == 0


def test_bad_ports_argument_is_rejected():
    run = subprocess.run(
        [sys.executable, "-m", "data.simulator", "--ports", "1,2"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 2 and "--ports" in run.stderr
