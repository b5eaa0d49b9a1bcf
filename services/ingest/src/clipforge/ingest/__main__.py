from clipforge.ingest.service import IngestSettings, build_worker
from clipforge.shared.runner import serve

settings = IngestSettings()
serve(build_worker(settings).build_app(), settings, "ingest")
