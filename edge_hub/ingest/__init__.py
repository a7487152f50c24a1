"""From a broker message to a stored row: the contract check, device incarnations, and the ingestor
that owns the delivery guarantee."""
