"""Plain decimal texts as int64 columns (``engine.plainnum``, issue 15): exactly the texts ``plain`` prints back."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.exactmath import plain
from engine.plainnum import MAX_FAST_DIGITS, PLAIN, Slow, plain_ints

PLAIN_TEXT = re.compile(PLAIN)


def expected(texts: list[str]) -> tuple[list[int], list[int]] | None:
    """The rule, one text at a time: None when one is not plain or has over 18 digits."""
    mant, scale = [], []
    for t in texts:
        if PLAIN_TEXT.fullmatch(t) is None or len(t.replace("-", "").replace(".", "")) > MAX_FAST_DIGITS:
            return None
        d = Decimal(t)
        assert plain(d) == t  # a plain text is its own output
        exponent = d.as_tuple().exponent
        assert isinstance(exponent, int)
        mant.append(int(d.scaleb(-exponent)))
        scale.append(-exponent)
    return mant, scale


# texts near the rule: digits, signs, points and the odd character, in any order
TEXT = st.one_of(
    st.text(alphabet="0123456789-.", max_size=22),
    st.from_regex(re.compile(r"-?[0-9]{1,19}(\.[0-9]{0,19})?"), fullmatch=True),
    st.integers(-(10**19), 10**19).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.text(max_size=4),
)


@given(st.lists(TEXT, max_size=12))
@example(["-0"])
@example(["-0.000", "1"])
@example(["-0.5", "0.0", "0", "-7"])
@example(["00", "1"])
@example(["1.", "2"])
@example([".5"])
@example(["-.5"])
@example(["1\n2"])
@example(["1", ""])
@example(["5-3"])
@example(["1.2.3"])
@example(["999999999999999999", "-999999999999999999", "0.999999999999999999"])
@example(["1000000000000000000"])
@example(["1.0000000000000000000"])
@example(["١٢"])
def test_plain_ints_take_exactly_the_plain_texts(texts: list[str]) -> None:
    want = expected(texts)
    if want is None:
        with pytest.raises(Slow):
            plain_ints(texts)
        return
    mant, scale = plain_ints(texts)
    assert mant.dtype == np.int64
    assert scale.dtype == np.int64
    assert (mant.tolist(), scale.tolist()) == want
