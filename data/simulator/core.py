"""``Simulator``: configuration, state, faults and call log shared by the five service apps."""

from __future__ import annotations

from data.demo import load_demo
from data.simulator.config import Fault, SimulatorConfig
from data.simulator.faults import CallLog, FaultInjector
from data.simulator.state import SimState


class Simulator:
    """The shared brain of the five simulated services (one per ``sim_app``)."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.dataset = load_demo(self.config.dataset)
        self.state = SimState(self.dataset, self.config.seed)
        self.faults = FaultInjector(list(self.config.faults), self.config.seed)
        self.calls = CallLog()

    @property
    def price_mode(self) -> str:
        return self.config.price_mode

    def configure(self, **changes: object) -> None:
        """Change ``price_mode``, ``seed`` or ``accounting_empty_status`` at runtime."""
        self.config = self.config.model_copy(update=changes)
        if "seed" in changes:
            self.state.seed = self.config.seed
            self.faults.set(self.faults.faults, self.config.seed)

    def set_faults(self, faults: list[Fault], seed: int | None = None) -> None:
        """Replace the active faults (``seed`` also re-seeds their draws)."""
        self.faults.set(faults, seed)

    def reset(self) -> None:
        """Fresh state from the dataset, the configured faults, an empty call log."""
        self.state = SimState(self.dataset, self.config.seed)
        self.faults.set(list(self.config.faults), self.config.seed)
        self.calls.clear()
