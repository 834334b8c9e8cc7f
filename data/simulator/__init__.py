"""Local simulator of the five GlobeCo services (services.md §8): in-process via ``InProcessTransport`` or served on
loopback ports by ``python -m data.simulator``."""

from data.simulator.app import INPROCESS_URLS, SimulatorApp, sim_app
from data.simulator.config import ENDPOINTS, SERVICES, Fault, SimulatorConfig
from data.simulator.transport import InProcessTransport

__all__ = [
    "ENDPOINTS",
    "INPROCESS_URLS",
    "SERVICES",
    "Fault",
    "InProcessTransport",
    "SimulatorApp",
    "SimulatorConfig",
    "sim_app",
]
