"""components.orders.downloads: the CSV caption is generated from the writer's column list."""

from __future__ import annotations

from components.orders import downloads
from engine.orders import ORDER_CSV_COLUMNS, order_rows, orders_to_csv


def test_the_caption_names_every_csv_column_in_the_written_order() -> None:
    caption = downloads.columns_caption()
    header = orders_to_csv(order_rows([])).decode().splitlines()[0].split(",")
    assert header == list(ORDER_CSV_COLUMNS)
    positions = [caption.index(c) for c in header]
    assert positions == sorted(positions)
    assert "rebalanceId (empty until saved)" in caption
