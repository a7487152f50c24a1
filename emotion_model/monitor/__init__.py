"""The emotion monitor process, one module per part (import the names from the module that owns them).

* :mod:`~emotion_model.monitor.pipeline`: one frame -> faces -> emotions -> tracked visits
  (:class:`Pipeline`, :class:`RateMeter`).
* :mod:`~emotion_model.monitor.outbox`: the persistent SQLite outbox and boot counter (:class:`Outbox`).
* :mod:`~emotion_model.monitor.device`: the MQTT device, status, heartbeat, will and acked visit
  events (:class:`MonitorDevice`, :func:`visit_event`).
* :mod:`~emotion_model.monitor.liveview`: the blurred, token-protected admin live view (:class:`LiveView`).
* :mod:`~emotion_model.monitor.loop`: the main loop, reading the source with backoff (:class:`Monitor`).
"""
