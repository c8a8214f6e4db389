"""torch.distributed set-up for ``torchrun --nproc-per-node N -m vafusion train ...``.

Under torchrun (``WORLD_SIZE > 1``) each process joins a ``gloo`` group (``nccl`` on CUDA)
and the model is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`. A second
group carries the differentiable all-reduces of batch statistics and loss sums, so they
never interleave with DDP's gradient buckets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    group: object | None = None  # for differentiable statistics all-reduce
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """Whether more than one process trains."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and runs validation."""
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the process group if launched by torchrun with more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
        owns = True
    group = dist.new_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return DistInfo(
        rank=dist.get_rank(),
        world=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        local_world=int(os.environ.get("LOCAL_WORLD_SIZE", str(world))),
        group=group,
        owns_group=owns,
    )


def broadcast_floats(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Rank 0's ``values`` on every process."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return t.tolist()


def shutdown(info: DistInfo) -> None:
    """Leave the process group if this module created it."""
    if info.enabled and info.owns_group and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
