"""imagegen: the shared package every handler is a few lines on top of.

Modules are named for their concern: http (events, responses, errors), config (env),
aws (boto3 clients), secrets (SSM), storage (S3 keys, presigned URLs), jobs (job
records with S3 conditional writes). Provider code lives in its own modules and is
imported only by the functions that need it.
"""

import logging
import os

logging.getLogger("imagegen").setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())

from imagegen import logs  # noqa: E402 (after the level: the filter masks secrets on every record)

logs.setup()
