"""The media store turns a refused folder into a job failure a person understands."""

from __future__ import annotations

from pathlib import Path

import pytest

from clipforge.shared.errors import StageError
from clipforge.shared.media import MediaStore

JOB = "0123456789abcdef01234567"


def test_a_file_in_place_of_the_job_folder_fails_the_stage_as_storage_unwritable(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    (tmp_path / "jobs").write_text("not a folder")
    with pytest.raises(StageError) as caught:
        store.ensure_dir(JOB, "clips", what="the clips")
    assert caught.value.code == "storage_unwritable"
    assert caught.value.retryable is False
    assert caught.value.message.startswith("The media store refused to save the clips (Not a directory)")


def test_prepare_creates_the_folder_of_a_key(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    path = store.prepare(store.key(JOB, "chunks", "part.json"))
    assert path.parent.is_dir() and path.parent == store.ensure_dir(JOB, "chunks")
