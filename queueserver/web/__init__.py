"""The web layer: the Starlette app, middleware, routes (`api/`), pages, slips and OpenAPI.

It imports the rooms; no room imports it."""
