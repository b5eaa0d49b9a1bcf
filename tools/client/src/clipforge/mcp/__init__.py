"""ClipForge's MCP server (``clipforge mcp`` or ``python -m clipforge.mcp``); needs ``clipforge-client[mcp]``."""
