"""Running models: batched local generation and the engines behind it."""
