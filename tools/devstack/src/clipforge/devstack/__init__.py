"""Local ClipForge stack for development, the demo and the tests."""
