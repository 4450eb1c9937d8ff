"""The `--ray [ADDRESS] --replicas N` options, as a frozen setting; no Ray import here."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

from studio.limits import InvalidRequest, Limit, limited, number_text

LOCAL_CLUSTER = "local"  # `--ray` with no address: start a Ray cluster on this machine


@dataclass(frozen=True)
class RaySettings:
    """Where the engine replicas run: each holds its own resident engine and takes one job at a time."""

    address: str = LOCAL_CLUSTER  # a Ray cluster address (auto, ray://head:10001, head:6379) or LOCAL_CLUSTER
    replicas: int = limited(1, Limit(1, 64), "engine replicas, each with its own copy of the model (one GPU each on GPU hosts)")
    # 1 thread and 1 Ray CPU per replica: N CPU replicas use N cores and do not fight over them.
    replica_threads: int = limited(1, Limit(1, 256), "torch CPU threads (and Ray CPUs) per replica")

    def __post_init__(self):
        from studio.settings import SettingsError

        for item in fields(self):
            if "limit" in item.metadata:
                try:
                    item.metadata["limit"].check(item.name, getattr(self, item.name))
                except InvalidRequest as error:
                    raise SettingsError(f"--{_option(item.name)} {error.message}") from None

    @property
    def local(self) -> bool:
        return self.address == LOCAL_CLUSTER


def _option(name: str) -> str:
    return name.replace("_", "-")


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scale out on Ray Serve")
    group.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_CLUSTER,
        default=None,
        metavar="ADDRESS",
        help="run jobs on engine replicas of a Ray Serve deployment: ADDRESS of a Ray cluster (auto, "
        "ray://head:10001), or none to start one on this machine",
    )
    for item in fields(RaySettings):
        if "limit" in item.metadata:
            limit = item.metadata["limit"]
            group.add_argument(
                f"--{_option(item.name)}",
                type=int,
                default=item.default,
                help=f"with --ray: {item.metadata['help']} ({number_text(limit.low)}-{number_text(limit.high)}, "
                f"default {item.default})",
            )


def ray_settings_from_args(args: argparse.Namespace) -> RaySettings | None:
    """The Ray setting the arguments ask for, or None without --ray (then Ray is never imported)."""
    if args.ray is None:
        from studio.settings import SettingsError

        if args.replicas != RaySettings.replicas or args.replica_threads != RaySettings.replica_threads:
            raise SettingsError("--replicas and --replica-threads need --ray")
        return None
    return RaySettings(address=args.ray.strip() or LOCAL_CLUSTER, replicas=args.replicas, replica_threads=args.replica_threads)
