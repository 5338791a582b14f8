"""The LiteLLM callback of Post 5: one ``portway_metering`` row per request, cost at write time.

Loaded by the proxy, never by the lab: ``config.yaml`` names it as the series does,

    litellm_settings:
      callbacks: lab.series.meter_callback.handler

and the proxy's environment says where to write (``PORTWAY_METER_DSN``: a SQLite file or a
``postgresql://`` URL) and at what prices (``PORTWAY_METER_PRICES``, JSON; the defaults are
:data:`lab.series.meter.PRICES`). The hook is LiteLLM's ``CustomLogger`` (its
``async_log_success_event`` / ``async_log_failure_event``, called once a response, streamed or
not, is complete: ``litellm/integrations/custom_logger.py``); the row is made by
:func:`lab.series.meter.row_from_payload` from the ``standard_logging_object`` LiteLLM builds.
"""

from __future__ import annotations

import os
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from lab.series import meter


class MeteringLogger(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self._ready: str | None = None

    def _dsn(self) -> str | None:
        dsn = os.environ.get(meter.DSN_ENV)
        if dsn and dsn != self._ready:
            meter.create_table(dsn)
            self._ready = dsn
        return dsn

    def _record(self, kwargs: dict[str, Any], response_obj: Any) -> None:
        dsn = self._dsn()
        payload = kwargs.get("standard_logging_object")
        if not dsn or not isinstance(payload, dict):
            return
        usage = getattr(response_obj, "usage", None)
        meter.write(dsn, meter.row_from_payload(payload, usage, meter.prices_from_env()))

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
        self._record(kwargs, response_obj)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
        self._record(kwargs, None)


handler = MeteringLogger()
