"""ClipForge analyze service."""
