from clipforge.analyze.service import AnalyzeSettings, build_worker
from clipforge.shared.runner import serve

settings = AnalyzeSettings()
serve(build_worker(settings).build_app(), settings, "analyze")
