"""evcap: how many EV chargers fit on the transformers a utility already owns."""

__version__ = "0.1.0"

from evcap.mix import fit

__all__ = ["__version__", "fit"]
