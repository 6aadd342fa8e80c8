"""The output side of the front end: conversion of finished accumulator rows for the C write."""

from hdl.post.convert import (
    OutputConverter,
    converted_row_layout,
    mode_layout,
    strip_layout,
)

__all__ = ["OutputConverter", "converted_row_layout", "mode_layout", "strip_layout"]
