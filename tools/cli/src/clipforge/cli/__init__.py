"""``clipforge``: the command line (typer + rich). See ``clipforge --help``."""
