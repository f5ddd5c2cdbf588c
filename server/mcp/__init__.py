"""productshot's MCP server: the tools, resources and transports (see `app.create_server`, `serve`).

Kept import-free so `productshot mcp config` and the CLI's argument parsing stay fast; import
`productshot.server.mcp.app` for the server itself.
"""
