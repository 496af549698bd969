"""One module per carrier: ``install(api, app)`` adds that carrier's documented endpoints."""
