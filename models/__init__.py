"""Seizure models (P1, P2, P3), the model bundle and the RunInference model handler."""
