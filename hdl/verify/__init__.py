"""Verification and measurement harnesses around generated blocks: formal-proof wrappers and
the pin-light place-and-route harness."""
