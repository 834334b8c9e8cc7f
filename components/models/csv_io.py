"""CSV import and export of a model's positions (pure functions, no Streamlit).

Format: one row per position, header ``securityId,ticker,description,target,lowDrift,highDrift``; weights are
read by the one percent-entry rule ``engine.validation.parse_weight`` (``3.5``, ``3.5%`` and ``0.035`` are 3.5 %);
the export writes fractions below 1 and ``100%`` for a whole band, so it reads back exactly.
On import a row needs ``securityId`` or ``ticker``
and ``target``; ``lowDrift``/``highDrift`` default to 0.05 when the column is absent. Every bad row is reported
(line, field, value, rule) and nothing is imported unless all rows are good: a short row, a duplicated column, a
semicolon-separated file, a field beyond the csv module's limit or a number outside the supported range (engine
``limits``: weights ≤ 12 decimals, |w| < 1000) is an error naming line and field. CR, LF and CRLF line endings are
read alike. Numbers are read exactly (ASCII decimals, optional exponent and ``%``); a value reaches the grid only
when its float is that exact decimal. Export neutralises every text cell with ``engine.orders.neutralise_cell``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.errors import InvalidInput
from engine.limits import MAX_WEIGHT_PLACES
from engine.models import Position
from engine.orders import neutralise_cell
from engine.validation import (
    MAX_POSITIONS,
    MAX_TARGET_SUM,
    format_percent,
    is_valid_id,
    nearest_targets,
    parse_weight,
    position_violations,
)

EXPORT_COLUMNS = ("securityId", "ticker", "description", "target", "lowDrift", "highDrift")
MAX_BYTES = 1_000_000
MAX_ROWS = 1_000
_ALIASES = {
    "securityid": "securityId",
    "security_id": "securityId",
    "ticker": "ticker",
    "target": "target",
    "lowdrift": "lowDrift",
    "low_drift": "lowDrift",
    "highdrift": "highDrift",
    "high_drift": "highDrift",
    "description": "description",
}


def positions_to_csv(rows: Sequence[Mapping[str, Any]], securities: Mapping[str, tuple[str, str]]) -> bytes:
    """Grid rows -> CSV bytes (UTF-8). ``securities`` maps id -> (ticker, description)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for r in rows:
        sid = r.get("security_id") or ""
        ticker, description = securities.get(sid, ("", ""))
        values = [_plain(r.get(k)) for k in ("target", "low_drift", "high_drift")]
        # every column, the id too (an unknown id is shown as typed): the one neutralisation of engine.orders
        writer.writerow([neutralise_cell(str(c)) for c in (sid, ticker, description, *values)])
    return buf.getvalue().encode("utf-8")


def _plain(value: Any) -> str:
    if value is None:
        return ""
    exact = Decimal(str(value))
    # a bare 1 would read back as 1 % under the percent-entry rule: a whole band is written as a percent
    return "100%" if exact == 1 else format(exact.normalize(), "f")


@dataclass(frozen=True)
class ImportResult:
    """Rows ready for the grid (only when ``errors`` is empty) and every problem found."""

    rows: list[dict[str, Any]]
    errors: list[str]


def parse_positions_csv(
    data: bytes, ids: Mapping[str, str], tickers: Mapping[str, str], default_drift: Decimal = Decimal("0.05")
) -> ImportResult:
    """Parse and validate uploaded CSV bytes.

    ``ids`` maps every known security id -> ticker; ``tickers`` maps ticker (upper case) -> security id.
    """
    if len(data) > MAX_BYTES:
        return ImportResult([], [f"the file has {len(data):,} bytes; at most {MAX_BYTES:,} are accepted"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ImportResult([], ["the file is not UTF-8 text (save it as CSV UTF-8)"])
    if "\x00" in text:
        return ImportResult([], ["the file contains NUL characters: it is not a CSV text file"])
    # newline="": the csv module then reads CR, LF and CRLF line endings (and line breaks inside quotes) alike
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as err:
        return ImportResult([], [f"line {reader.line_num}: {err}"])
    if not header:
        return ImportResult([], ["the file is empty: expected a header row such as " + ",".join(EXPORT_COLUMNS)])
    cols = [_ALIASES.get(h.strip().lower()) for h in header]
    errors: list[str] = []
    if len(header) == 1 and ";" in header[0]:
        return ImportResult(
            [], ["line 1: the columns are separated by ';' — save the file as comma-separated CSV (',' between them)"]
        )
    for col in dict.fromkeys(c for c in cols if c):
        where = [i + 1 for i, c in enumerate(cols) if c == col]
        if len(where) > 1:
            places = ", ".join(map(str, where[:-1])) + f" and {where[-1]}"
            errors.append(f"line 1: column '{col}' appears twice (columns {places})")
    if errors:
        return ImportResult([], errors)
    if "target" not in cols:
        errors.append("line 1: column 'target' is missing")
    if "securityId" not in cols and "ticker" not in cols:
        errors.append("line 1: a 'securityId' or 'ticker' column is needed")
    if errors:
        return ImportResult([], errors)

    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    total = Decimal(0)
    while True:
        try:
            values = next(reader, None)
        except csv.Error as err:  # e.g. a field above the csv module's 131,072-character limit
            errors.append(f"line {reader.line_num}: {err}")
            break
        if values is None:
            break
        line_no = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            errors.append(f"more than {MAX_ROWS} rows; the rest of the file was not read")
            break
        if len(values) != len(header):
            errors.append(
                f"line {line_no}: {len(values)} values, the header has {len(header)} columns "
                "(a missing or extra comma?)"
            )
            continue
        rec = {c: v.strip() for c, v in zip(cols, values, strict=True) if c}
        bad = len(errors)
        sid = rec.get("securityId") or ""
        ticker = rec.get("ticker") or ""
        if sid:
            if not is_valid_id(sid):
                errors.append(f"line {line_no}, securityId {sid!r}: must be 24 letters or digits")
            elif sid not in ids:
                errors.append(f"line {line_no}, securityId {sid!r}: unknown to the Security Service")
            elif ticker and ids[sid].upper() != ticker.upper():
                errors.append(f"line {line_no}, ticker {ticker!r}: security {sid} has ticker {ids[sid]}")
        elif ticker:
            sid = tickers.get(ticker.upper(), "")
            if not sid:
                errors.append(f"line {line_no}, ticker {ticker!r}: unknown ticker")
        else:
            errors.append(f"line {line_no}: securityId and ticker are both empty")
        numbers: dict[str, Decimal] = {}
        for name in ("target", "lowDrift", "highDrift"):
            raw = rec.get(name)
            if raw in (None, "") and name != "target":
                numbers[name] = default_drift
                continue
            try:
                numbers[name] = parse_weight(raw or "", name)
            except InvalidInput as err:
                errors.append(f"line {line_no}, {err}")
        if len(numbers) == 3 and sid:
            p = Position(
                security_id=sid,
                target=numbers["target"],
                low_drift=numbers["lowDrift"],
                high_drift=numbers["highDrift"],
            )
            for v in position_violations(0, p):
                if v.rule == "target_step":
                    nearest = " or ".join(format_percent(t) for t in nearest_targets(p.target))
                    errors.append(f"line {line_no}, target {rec.get('target')}: {_rule_text(v.rule)}; use {nearest}")
                elif v.rule != "id_format":
                    errors.append(f"line {line_no}, {v.field} {rec.get(v.field) or v.value!s}: {_rule_text(v.rule)}")
            if sid in first_line:
                errors.append(f"line {line_no}, securityId {sid}: duplicate of line {first_line[sid]}")
            first_line.setdefault(sid, line_no)
            total += p.target
        if len(errors) == bad:
            rows.append(
                {
                    "security_id": sid,
                    "target": _float_exact(numbers["target"]),
                    "low_drift": _float_exact(numbers["lowDrift"]),
                    "high_drift": _float_exact(numbers["highDrift"]),
                }
            )
    live = sum(1 for r in rows if r["target"] != 0)
    if live > MAX_POSITIONS:
        errors.append(f"{live} positions with a target above 0; at most {MAX_POSITIONS} are allowed")
    if total > MAX_TARGET_SUM:
        errors.append(f"targets sum to {float(total) * 100:.1f} %; at most 95 % (at least 5 % stays in cash)")
    if not rows and not errors:
        errors.append("the file has a header but no positions")
    return ImportResult(rows if not errors else [], errors)


def _float_exact(value: Decimal) -> float:
    """The grid's float for ``value``; within the weight range (≤ 12 decimals, < 1000) it round-trips exactly."""
    number = float(value)
    if Decimal(repr(number)) != value:  # defensive: parse_weight's range check makes this unreachable
        raise ValueError(f"cannot be held exactly (at most {MAX_WEIGHT_PLACES} decimal places)")
    return number


def _cut(text: str, limit: int = 40) -> str:
    """A value for a message: at most ``limit`` characters (a 100,000-digit field is not echoed whole)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rule_text(rule: str) -> str:
    return {
        "target_range": "target must be between 0 and 0.95 (95 %)",
        "target_step": "target must be a multiple of 0.005 (0.5 %)",
        "drift_range": "drift must be between 0 and 1 (100 %)",
    }.get(rule, rule)
