"""``[core] hostname_callable`` for the deployment: each Celery worker on this one machine gets its own name.

Airflow records the hostname of the machine a task ran on; two workers on one host would both report it and
look like one. ``make test-deploy`` starts each worker with ``TOLOKA_DEPLOY_HOSTNAME`` set (``worker-1``,
``worker-2``) and points ``hostname_callable`` at :func:`hostname`.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("TOLOKA_DEPLOY_HOSTNAME") or socket.getfqdn()
