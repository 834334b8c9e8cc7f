"""Session-state keys of the Investment models page (widget keys included), in one place: the feature owns them.

Keys carry the page as a prefix, so no two features can collide; a test seeds them by these names.
"""

from __future__ import annotations

from typing import Any

MODELS_DRAFT = "models_draft"  # ModelDraft being created or edited (None: list only)
MODELS_CONFLICT = "models_conflict"  # ConflictInfo after a save lost the version race
MODELS_PENDING_DELETE = "models_pending_delete"  # (model_id, name, version) awaiting confirmation
MODELS_SAVE_ERRORS = "models_save_errors"  # list[str] of rule violations reported by the last save
MODELS_IMPORT_REPORT = "models_import_report"  # list[str] of bad CSV rows of the last import
MODEL_EDITOR = "model_editor"  # st.data_editor widget key (edit state: edited_rows / added_rows / deleted_rows)
MODELS_NAME_INPUT = "models_name_input"  # text_input widget key of the model name
MODELS_LINK_INPUT = "models_link_input"  # multiselect widget key: portfolios to link
MODELS_UNLINK_INPUT = "models_unlink_input"  # multiselect widget key: portfolios to unlink
MODELS_FILTER = "models_filter"  # text_input widget key: name filter of the list
MODELS_SORT = "models_sort"  # multiselect widget key: sort tokens of the list
MODELS_PAGE_SIZE = "models_page_size"
MODELS_PAGE = "models_page"
MODELS_CONFIRM_CLOSE = "models_confirm_close"  # True while "Close editor" asks about unsaved changes
MODELS_OPEN_PICK = "models_open_pick"  # selectbox widget key: the model to act on
MODELS_ADD_SECURITY = "models_add_security"  # search box (components.pickers) adding a security row to the grid
MODELS_LINK_SEARCH = "models_link_search"  # search box (components.pickers) linking portfolios
MODELS_TAB = "models_tab"  # st.tabs key of the editor: the open tab survives reruns
MODELS_PICK_SIGNATURE = "models_pick_signature"  # ids:versions the picker was built for (rebuilt when it changes)

DEFAULTS: dict[str, Any] = {  # non-widget keys created once per session (components.state.init_defaults)
    MODELS_DRAFT: None,
    MODELS_CONFLICT: None,
    MODELS_PENDING_DELETE: None,
    MODELS_SAVE_ERRORS: [],
    MODELS_IMPORT_REPORT: [],
}
