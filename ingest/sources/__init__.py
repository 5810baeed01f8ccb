"""Named sources kept in sync with the index: local folders and object stores (fsspec), synced incrementally by
the store's change markers, pruned of what disappeared (only their own documents), watched or scheduled.

``spec`` (what a source is, validated), ``store`` (the sources and their manifests), ``listing`` (list and fetch),
``sync`` (the sync itself), ``runner`` (watches and cron schedules in a server). See docs/sources.md.
Import from the modules: this package imports nothing, so the API's start-up stays light.
"""
