"""tdemesh: the command line's front door (the console, check, run, sim)."""

__version__ = "0.1.0"
