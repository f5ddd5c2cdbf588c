import sys

from productshot.cli.main import main

# Guarded: a spawned helper process (the MCP server's pixel processes) imports this module as __mp_main__.
if __name__ == "__main__":
    sys.exit(main())
