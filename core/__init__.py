"""The workbench's domain: everything the app, the CLI and the tests call. Never imports streamlit."""
