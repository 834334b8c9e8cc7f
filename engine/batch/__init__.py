"""``python -m engine batch``: columnar (Parquet/CSV) batch rebalancing, locally or on a Dask cluster."""
