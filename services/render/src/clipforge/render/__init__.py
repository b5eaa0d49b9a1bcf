"""ClipForge render service."""
