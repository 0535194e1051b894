"""The reading pipeline: detector, recogniser, grammar decode."""

PRECISIONS = ("fp32", "bf16", "int8")
"""The recogniser network's arithmetic (``reading.precision``); "auto" picks one for the device."""
