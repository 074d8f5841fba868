"""Decisions: from a finished study to accepted values: paired comparison and statistics,
held-out validation, the gate, the ratchet over many constants and its ledger."""
