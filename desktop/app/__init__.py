"""The Qt desktop app (``sufler`` with no arguments). Only this package imports Qt."""
