"""Plain decimal texts as exact int64 columns (issue 15): shared by the CLI's fast path (:mod:`engine.fastsolve`)
and the what-if's columnar path (:mod:`engine.columnar`).

A *plain* decimal is one ``plain(Decimal(text))`` prints back unchanged, so its text can be the output: an optional
``-``, no leading zeros, no exponent, no negative zero, at most 18 digits before the point and 1-18 after it
(:data:`PLAIN`); :func:`plain_ints` also takes at most :data:`MAX_FAST_DIGITS` digits in all (an int64 mantissa).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LIMIT = float(2**61)  # float estimates above this may not fit int64 exactly: such values leave the integer path
# a plain decimal (one text; the negative look-ahead refuses a negative zero: -0, -0.0, ...)
PLAIN = r"(?:-(?!0(?:\.0+)?(?:\n|$)))?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,18})?"
MAX_FAST_DIGITS = 18  # int64 mantissas
_NL, _MINUS, _DOT, _ZERO = 10, 45, 46, 48  # ASCII codes


class Slow(Exception):
    """Not for the integer path: the exact reference (``Decimal``) path answers it. Not an error."""


def plain_ints(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(mantissa, scale) int64 columns of plain decimal texts: ``text == mantissa / 10**scale`` exactly; ``Slow``
    when one text is not plain (:data:`PLAIN`) or has more than :data:`MAX_FAST_DIGITS` digits.

    The texts are joined into one ASCII buffer and checked as numpy byte arrays (no object per text); the
    mantissas are parsed by numpy in C from that buffer with the points taken out.
    """
    n = len(texts)
    if not n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    joined = "\n".join(texts)
    if not joined.isascii():  # [0-9] are ASCII digits: other text is not plain
        raise Slow
    u = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    nl = u == _NL
    dot = u == _DOT
    minus = u == _MINUS
    if not ((u - _ZERO < 10) | nl | dot | minus).all():  # (uint8: below "0" wraps round to >= 10)
        raise Slow
    ends = np.flatnonzero(nl)
    if ends.size != n - 1:  # a text with a line feed of its own
        raise Slow
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends + 1
    stops = np.empty(n, dtype=np.int64)
    stops[:-1] = ends
    stops[-1] = u.size
    lengths = stops - starts
    if lengths.min() < 1:  # an empty text
        raise Slow
    neg = u[starts] == _MINUS
    if int(np.count_nonzero(minus)) != int(np.count_nonzero(neg)):  # a "-" not at the start of its text
        raise Slow
    lead = starts + neg  # each text's first digit (or point)
    n_dots = int(np.count_nonzero(dot))
    if n_dots:
        dot_at = np.flatnonzero(dot)
        owner = np.searchsorted(starts, dot_at, side="right") - 1  # the text of each point
        if owner.size > 1 and (owner[1:] == owner[:-1]).any():  # two points in one text
            raise Slow
        int_stop = stops.copy()
        int_stop[owner] = dot_at
        scale = np.zeros(n, dtype=np.int64)
        scale[owner] = stops[owner] - dot_at - 1
        if scale.max() > MAX_FAST_DIGITS or (scale[owner] < 1).any():  # "1." (no digit after the point)
            raise Slow
    else:
        int_stop = stops
        scale = np.zeros(n, dtype=np.int64)
    int_digits = int_stop - lead
    if int_digits.min() < 1 or (int_digits + scale).max() > MAX_FAST_DIGITS:  # "-", ".5", "-.5"; too long
        raise Slow
    if ((u[lead] == _ZERO) & (int_digits > 1)).any():  # a leading zero ("-0..." with more digits is one too)
        raise Slow
    digits = u[~dot].tobytes() if n_dots else joined
    mant = np.fromstring(digits, dtype=np.int64, sep="\n")  # every text whole now: parsed in C
    if mant.size != n:
        raise Slow
    if (neg & (mant == 0)).any():  # a negative zero ("-0", "-0.00") prints without its sign
        raise Slow
    return mant, scale
