"""The gateway's routers, one module per area. Each exposes ``router`` and may expose
``async def on_startup(state)`` / ``async def on_shutdown(state)`` for background work."""
