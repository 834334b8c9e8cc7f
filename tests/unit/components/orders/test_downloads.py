"""components.orders.downloads: the CSV caption is generated from the writer's column list."""

from __future__ import annotations

from components.orders import downloads
from engine.orders import ORDER_CSV_COLUMNS, aggregate_orders, aggregated_to_csv, order_rows, orders_to_csv


def test_the_caption_names_every_csv_column_in_the_written_order() -> None:
    caption = downloads.columns_caption()
    header = orders_to_csv(order_rows([])).decode().splitlines()[0].split(",")
    assert header == list(ORDER_CSV_COLUMNS)
    positions = [caption.index(c) for c in header]
    assert positions == sorted(positions)
    assert "rebalanceId (empty until saved)" in caption


def test_the_block_caption_names_the_block_csvs_own_columns() -> None:
    """Issue 14 item 16: the block view's caption lists the block CSV's columns, not the per-portfolio ones."""
    header = aggregated_to_csv(aggregate_orders([])).decode().splitlines()[0].split(",")
    for net in (False, True):
        caption = downloads.blocks_caption(net)
        positions = [caption.index(c) for c in header]
        assert positions == sorted(positions) and "portfolioCount" in caption and "portfolioName" not in caption
    assert "netted" in downloads.blocks_caption(True) and "netted" not in downloads.blocks_caption(False)
