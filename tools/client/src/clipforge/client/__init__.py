"""The ClipForge Python client, async and sync.

```python
from clipforge.client import ClipForge

with ClipForge("http://127.0.0.1:8000", "cf_...") as clipforge:
    job = clipforge.create("https://example.com/talk.mp4", options={"max_clips": 3})
    done = clipforge.wait(job.id, on_message=print)
    if done.status == "completed":
        clipforge.download_clips(done, "clips/", captions=True)
```
"""

from clipforge.client.aio import CLIP_FILES, AsyncClipForge, ClipFile, LiveMessage, is_url
from clipforge.client.config import DEFAULT_API_URL, Connection, MissingAPIKey, dev_key_path, resolve
from clipforge.client.errors import APIError, ClipForgeError, ConnectionFailed, StreamClosed
from clipforge.client.sync import ClipForge

__all__ = [
    "CLIP_FILES",
    "DEFAULT_API_URL",
    "APIError",
    "AsyncClipForge",
    "ClipFile",
    "ClipForge",
    "ClipForgeError",
    "Connection",
    "ConnectionFailed",
    "LiveMessage",
    "MissingAPIKey",
    "StreamClosed",
    "dev_key_path",
    "is_url",
    "resolve",
]
