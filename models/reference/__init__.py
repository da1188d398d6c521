"""The shipped reference model bundle (data only)."""
