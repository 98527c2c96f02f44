"""One module per scenario: run(profile) -> (rows, chart or None)."""
