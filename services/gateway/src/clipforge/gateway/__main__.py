from clipforge.gateway.app import create_app
from clipforge.gateway.settings import GatewaySettings
from clipforge.shared.runner import serve

settings = GatewaySettings()
serve(create_app(settings), settings, "gateway")
