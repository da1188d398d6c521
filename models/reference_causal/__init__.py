"""The shipped causal reference model bundle (data only): `neurokube stream`."""
