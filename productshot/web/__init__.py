"""The web studio page (`productshot web`): a small FastAPI app over the same agent runtime as the CLI and Slack."""
