"""Contracts and plumbing shared by every ClipForge service."""
