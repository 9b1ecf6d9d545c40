"""One module per ``python -m bot`` command, each with ``add_arguments`` and ``run``."""
