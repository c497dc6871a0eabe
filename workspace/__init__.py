"""The admin's workspace in the browser: corpora and imports, benchmarks and members, labelers,
labeling jobs, downloads. Views only parse, call the other apps' services and selectors, and
render; permissions decide who sees what (admins set up)."""
