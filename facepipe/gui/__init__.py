"""`facepipe gui`: a desktop app for the anonymizer (PySide6, optional extra `facepipe[gui]`).

The window holds no processing of its own: previews go through `facepipe.apps.anonymize`
(FaceFinder, Anonymizer.redact), exports through `anonymize_paths` with the options the CLI's
parser builds, people through `facepipe.apps.recognition`. Modules: `settings` (the controls'
values <-> CLI arguments, QSettings), `preview` (worker thread), `export` (worker thread),
`people` (people panel), `controls`, `window`, `app` (entry point).
"""
