from clipforge.shared.runner import serve
from clipforge.transcribe.service import TranscribeSettings, build_worker

settings = TranscribeSettings()
serve(build_worker(settings).build_app(), settings, "transcribe")
