"""Hugging Face `evaluate` metric scripts shipped with the workbench, loaded by file path.

Do not import these files: `core.metrics.backends.load_module` hands their paths to
`evaluate.load(path)`, which copies each script into its modules cache and imports it from there.
The folder is a package only so that the scripts are installed with `core`.
Each script imports libraries only (no relative imports), so loading one needs no network.
"""
