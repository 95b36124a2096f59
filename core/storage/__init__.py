"""Tables, the engine, write transactions and migrations."""
