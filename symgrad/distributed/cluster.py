"""The Dask client a fit runs on: the one given, the current one, or a ``LocalCluster`` started once.

A fit never creates a scheduler of its own when the user has a client: ``Client("host:8786")``
(a real cluster), ``Client(LocalCluster(...))`` or a client made by a batch-system launcher
(dask-jobqueue, dask-kubernetes) all become the current client and are used as they are.
"""
from __future__ import annotations

import atexit
import os

from distributed import Client, LocalCluster

_STARTED: list[Client] = []


def resolve_client(client: Client | None) -> Client:
    """``client``, else the current client, else a ``LocalCluster`` of single-thread worker
    processes, one per core, started on first use and closed when Python exits."""
    if client is not None:
        if not isinstance(client, Client):
            raise TypeError(f"distributed: client must be a distributed.Client, got {type(client).__name__}")
        return client
    try:
        from distributed import get_client

        return get_client()
    except ValueError:  # no client in this process yet
        pass
    if not _STARTED:
        cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True)
        _STARTED.append(Client(cluster))
        atexit.register(_close_started)
    return _STARTED[0]


def _close_started() -> None:
    for client in _STARTED:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()
    _STARTED.clear()
