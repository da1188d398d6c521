"""Runner configurations (YAML): data only, installed with the package."""
