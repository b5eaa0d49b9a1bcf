"""ClipForge transcribe service."""
