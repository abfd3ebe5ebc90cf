"""swarmscope replay: exact time travel and debugging over the event log."""
