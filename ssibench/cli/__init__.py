"""The ``ssibench`` command and its subcommands."""
