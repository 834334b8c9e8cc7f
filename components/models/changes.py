"""The model editor's change views (issue 14 item 6): the unsaved changes with their count, and the version
history of a stored model with the diff of each version (who and when).

The positions grid (``st.data_editor``) cannot style single cells, so changed cells are shown twice instead: in
the grid's read-only "Changed" column (before → after per row) and in the pending-changes table here, whose
"After" column is highlighted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from components import feedback, resources
from components.feedback import escape_md
from components.models.draft import model_changes
from components.tables import fmt_when
from components.theme import PRIMARY
from engine.models import ModelVersion

HISTORY_SHOWN = 20  # versions listed (newest first)


def _styled(changes: Sequence[Mapping[str, str]]) -> object:
    frame = pd.DataFrame(list(changes), columns=["What", "Before", "After"])
    return frame.style.set_properties(subset=["After"], **{"background-color": f"{PRIMARY}22", "font-weight": "600"})


def render_pending(changes: Sequence[Mapping[str, str]]) -> None:
    """ "N unsaved changes" with the list (before → after), or nothing when the editor matches the stored model."""
    if not changes:
        st.caption("No unsaved changes.")
        return
    n = len(changes)
    with st.expander(f"{n} unsaved change{'s' if n != 1 else ''}", icon=":material/edit_note:", expanded=n <= 5):
        st.dataframe(_styled(changes), hide_index=True, width="stretch", height=min(38 + 35 * n, 320))
        st.caption("Nothing is stored until you press **Save model**.")


def version_diffs(
    versions: Sequence[ModelVersion], ticker_of: Mapping[str, str]
) -> list[tuple[ModelVersion, list[dict[str, str]] | None]]:
    """Each version (newest first) with its changes against the version before it; None for the oldest stored."""
    out: list[tuple[ModelVersion, list[dict[str, str]] | None]] = []
    for i, v in enumerate(versions):
        previous = versions[i + 1] if i + 1 < len(versions) else None
        out.append((v, None if previous is None else model_changes(previous.model, v.model, ticker_of)))
    return out


def render_history(model_id: str, version: int | None, ticker_of: Mapping[str, str]) -> None:
    """The stored versions of the model (now at ``version``), newest first, each with who, when and what changed."""
    with feedback.guard("load the version history", stop=False):
        versions = resources.model_repo().history(model_id, limit=HISTORY_SHOWN + 1)
        with st.expander(f"Version history ({len(versions[:HISTORY_SHOWN])} shown)", icon=":material/history:"):
            if not versions:
                st.caption(
                    f"History starts at version {(version or 0) + 1}: v{version} and earlier were saved before "
                    "version history existed."
                )
                return
            for v, changes in version_diffs(versions, ticker_of)[:HISTORY_SHOWN]:
                who = escape_md(v.model.updated_by or "(not recorded)")
                st.markdown(f"**v{v.model.version}** · {fmt_when(v.saved_at)} UTC · by {who}")
                if changes is None:
                    st.caption(
                        "Created."
                        if v.model.version == 1
                        else f"History starts at version {v.model.version}: earlier versions were saved before "
                        "version history existed."
                    )
                elif changes:
                    st.dataframe(_styled(changes), hide_index=True, width="stretch")
                else:
                    st.caption("Saved without changes to name, positions or portfolios (e.g. trade controls).")
