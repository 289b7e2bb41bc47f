"""The server's routers, one per area of the Hub API (see `hub_publish.server.app.create_app`)."""
