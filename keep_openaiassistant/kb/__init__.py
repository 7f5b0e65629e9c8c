"""The knowledge base: a folder of runbooks kept in sync with a vector store (``kb sync|ls|search|rm``).

- :mod:`.manifest`: pure — which local files file search takes, their content hashes, and the
  plan that turns a folder and a store's files into uploads, replacements and removals;
- :mod:`.store`: the requests (Files, Vector stores, search) over the engine's
  :class:`~keep_openaiassistant.wire.Wire`, each retried by :func:`~keep_openaiassistant.waiting.with_retries`
  within one :class:`~keep_openaiassistant.waiting.Deadline`;
- :mod:`.sync`: the sync itself, its report and its progress lines;
- :mod:`.cli`: the ``kb`` command.

Nothing here imports Keep; the emulator reads :mod:`.manifest` only (to load ``--knowledge`` with
the same attributes a sync writes).
"""
