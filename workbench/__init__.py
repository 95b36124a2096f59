"""The app shell: Streamlit entrypoint, login gate, shared UI helpers and the `workbench` CLI."""
