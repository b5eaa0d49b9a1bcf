"""ClipForge ingest service."""
