"""EasyOCR custom-network module for lapi_plate_g2: the stock generation2 network, unchanged."""

from easyocr.model.vgg_model import Model  # noqa: F401
