"""An SDXL image studio: one engine behind a Gradio UI, a command line and an HTTP API."""

__version__ = "0.1.0"
