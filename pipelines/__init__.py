"""Pipeline wiring, options, runner configurations and the ``neurokube`` command line."""
