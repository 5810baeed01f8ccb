"""Batch ingestion: load (unstructured, pdfium), chunk (encoder-token bounded), encode, write (crash-safe).

Entry points: ``IngestPipeline`` (``ingest.pipeline``), ``delete_document`` (``ingest.steps``).
"""
