"""keep.providers.openaiassistant_provider: Keep's entry for the provider type ``openaiassistant``.

Installed into Keep's providers folder by the keep-openaiassistant wheel (or linked there by
``python -m keep_openaiassistant link``). The code lives in the ``keep_openaiassistant`` package;
this folder only lets Keep's factory and provider listing find it.
"""
