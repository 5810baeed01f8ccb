"""citewise: question answering over large document collections, with checked citations."""

__version__ = "0.1.0"
