"""What a run leaves: its record, the results.json schema and the code it was made with."""
