"""Rasa channel connectors and the output channel that renders replies per channel."""
