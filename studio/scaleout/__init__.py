"""Scale-out on Ray Serve: the engine as a deployment of N replicas behind the studio's one job queue.

Nothing here imports Ray at import time: `options` (the `--ray` command-line options) and `wire` (the plain
data a replica streams back) are Ray-free; `runner` and `replica` import Ray and are only loaded with `--ray`.
"""
