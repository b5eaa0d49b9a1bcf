from clipforge.render.service import RenderSettings, build_worker
from clipforge.shared.runner import serve

settings = RenderSettings()
serve(build_worker(settings).build_app(), settings, "render")
