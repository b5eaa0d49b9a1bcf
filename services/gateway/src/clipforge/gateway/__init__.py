"""ClipForge gateway service."""
