"""The systolix command line and its flow scripts (generation, lint, synthesis, reports)."""
