"""resolve_client: the client given, else the current one, else one LocalCluster started and reused."""
import pytest
from distributed import Client, LocalCluster

from symgrad.distributed import cluster


def test_starts_one_local_cluster_then_uses_the_current_client():
    started = cluster.resolve_client(None)
    try:
        assert cluster.resolve_client(None) is started  # reused, not a second cluster
        workers = started.scheduler_info()["workers"].values()
        assert workers and all(w["nthreads"] == 1 for w in workers)
    finally:
        cluster._close_started()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as local, \
            Client(local) as mine:
        assert cluster.resolve_client(None) is mine and cluster.resolve_client(mine) is mine


def test_a_client_must_be_a_client():
    with pytest.raises(TypeError, match="distributed.Client, got str"):
        cluster.resolve_client("tcp://scheduler:8786")
