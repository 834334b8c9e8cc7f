"""Run options by their CLI names (product-spec 2.12): one parser for ``engine solve`` and ``engine batch``.

``parse_options({"minCash": "100", "minCashPct": "0.02", "timeLimit": 5, "tieBreak": "random", "seed": 7,
"tradeDate": "2026-12-07"})`` returns a :class:`RebalanceOptions`; decimals may be JSON strings or numbers
(read exactly). An unknown name or a bad value raises :class:`OptionError` naming the option, the value and
the rule. New controls are added here once and appear in both commands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.models import RebalanceOptions


class OptionError(ValueError):
    """A bad run option: ``path`` names it (``options.minCash``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


SHOWN_CHARS = 40


def _shown(value: object) -> str:
    """A value for a message: its repr, cut after SHOWN_CHARS characters (hostile input may be huge)."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"… ({len(text)} characters)"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "an array"}.get(type(value), _shown(value))


def _decimal(value: object, path: str) -> Decimal:
    """A decimal read exactly; its sign is a business rule checked by the engine (an error per portfolio)."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise OptionError(path, f"must be a decimal (a JSON string or number), got {_kind(value)}")
    try:
        d = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except ArithmeticError:
        raise OptionError(path, f"{_shown(value)} is not a decimal number") from None
    if not d.is_finite():
        raise OptionError(path, f"{_shown(value)} is not a decimal number")
    return d


def _time_limit(value: object, path: str) -> float:
    d = _decimal(value, path)
    if not d > 0 or d > 86_400:
        raise OptionError(path, f"{_shown(value)} must be a positive number of seconds (at most a day)")
    return float(d)


def _tie_break(value: object, path: str) -> str:
    if value not in ("lower", "random"):
        raise OptionError(path, f"{_shown(value)} must be 'lower' or 'random'")
    return str(value)


def _seed(value: object, path: str) -> int:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OptionError(path, f"{_shown(value)} must be a non-negative integer")
    return value


def _date(value: object, path: str) -> dt.date:
    if not isinstance(value, str):
        raise OptionError(path, f"must be a date string YYYY-MM-DD, got {_shown(value)}")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise OptionError(path, f"{_shown(value)} is not a date YYYY-MM-DD") from None


def _choice(*allowed: str) -> Callable[[object, str], str]:
    def parse(value: object, path: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise OptionError(path, f"{_shown(value)} must be one of " + ", ".join(repr(a) for a in allowed))
        return value

    return parse


MAX_IDS = 100_000


def _ids(value: object, path: str) -> tuple[str, ...]:
    """A JSON array of security ids (strings, each 1 to 64 characters); duplicates are kept once."""
    if not isinstance(value, list | tuple):
        raise OptionError(path, f"must be a JSON array of security ids, got {_kind(value)}")
    if len(value) > MAX_IDS:
        raise OptionError(path, f"lists {len(value)} ids; at most {MAX_IDS:,} are allowed")
    out: dict[str, None] = {}
    for i, item in enumerate(value):
        if not isinstance(item, str) or not 0 < len(item.strip()) <= 64:
            raise OptionError(f"{path}[{i}]", f"{_shown(item)} must be a security id (a non-empty string)")
        out[item.strip()] = None
    return tuple(out)


# CLI name -> (RebalanceOptions field, parser)
FIELDS: dict[str, tuple[str, Callable[[object, str], object]]] = {
    "minCash": ("min_cash", _decimal),
    "minCashPct": ("min_cash_fraction", _decimal),
    "timeLimit": ("time_limit", _time_limit),
    "tieBreak": ("tie_break", _tie_break),
    "seed": ("seed", _seed),
    "tradeDate": ("trade_date", _date),
    # PM trade controls (product-spec 2.12)
    "tradePolicy": ("trade_policy", _choice("all", "out-of-band")),
    "minTradeValue": ("min_trade_value", _decimal),
    "noBuy": ("no_buy", _ids),
    "noSell": ("no_sell", _ids),
    "noTrade": ("no_trade", _ids),
    "direction": ("direction", _choice("both", "buy-only", "sell-only")),
    "onInfeasible": ("on_infeasible", _choice("flag", "nearest")),
}


def option_values(raw: object, path: str = "options") -> dict[str, object]:
    """The options of a JSON object of CLI option names, parsed, by ``RebalanceOptions`` field name (only those
    given); unknown names and bad values raise :class:`OptionError`. Builds no pydantic object."""
    if not isinstance(raw, Mapping):
        raise OptionError(path, f"must be a JSON object of option names to values, got {_kind(raw)}")
    values: dict[str, object] = {}
    for name, value in raw.items():
        if name not in FIELDS:
            shown = name if isinstance(name, str) and name.isidentifier() else _shown(name)  # one line, cut
            raise OptionError(f"{path}.{shown}", f"unknown option (allowed: {', '.join(sorted(FIELDS))})")
        field, parse = FIELDS[name]
        values[field] = parse(value, f"{path}.{name}")
    return values


def parse_options(raw: object, path: str = "options", base: RebalanceOptions | None = None) -> RebalanceOptions:
    """``RebalanceOptions`` from a JSON object of CLI option names; unknown names are an error."""
    # imported here, not at the top: `engine solve`'s fast path parses options with option_values and must
    # start without pydantic (start-up time, issue 15)
    from engine.models import RebalanceOptions

    return (base or RebalanceOptions()).model_copy(update=option_values(raw, path))
