"""evcap: how many EV chargers fit on the transformers a utility already owns."""

__version__ = "0.1.0"
