"""The Keep boundary: the only part of keep_openaiassistant that imports ``keep``.

    provider.py   OpenaiassistantProvider: Keep's BaseProvider around the engine (imports Keep)
    cli.py        ``ask --via keep``: the step through Keep's own provider machinery
    doctor.py     ``doctor``: does the Keep this Python imports find the provider, and if not, why
    shim/         the two modules the wheel installs as keep/providers/openaiassistant_provider/

Everything else of the package (engine, backends, wire, params, auth_config, discovery, the
CLI's core, the emulator) never imports Keep; ``lint-imports`` (pyproject.toml) enforces it.
This ``__init__`` imports nothing, so the subpackage itself is importable without Keep; each
module here imports Keep where it needs it (``provider`` at the top, the others lazily, so that
``doctor`` can say "Keep is not importable" instead of failing).
"""
