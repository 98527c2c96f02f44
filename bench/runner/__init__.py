"""stet's scenario runner (bench/run.py): the harness, the charts, the scenarios."""
