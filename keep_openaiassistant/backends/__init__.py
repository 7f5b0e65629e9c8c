"""The two backends behind one interface (:class:`keep_openaiassistant.engine.Backend`)."""
