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

from litellm.integrations.custom_logger import CustomLogger

from lab.series import meter


class MeteringLogger(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        meter.record(kwargs, response_obj, os.environ)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        meter.record(kwargs, None, os.environ)


handler = MeteringLogger()
