"""The aggregates handed to the central server: access tokens, pages by change sequence, the
reference puller and push mode."""
