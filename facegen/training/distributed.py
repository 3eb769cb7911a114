"""Data-parallel training across processes started by torchrun (gloo on CPU, nccl on GPU).

Gradients are averaged with one all-reduce of a flat buffer per optimiser step, as
stylegan2-ada does, rather than by wrapping the networks in DistributedDataParallel:
DDP does not support the double backward that R1 needs, and G and D take turns
being frozen, which DDP's bucket hooks do not expect. Every process starts from
rank 0's weights and applies the same averaged gradient with the same optimiser,
so all of them hold the same weights at every step. BatchNorm statistics (dcgan)
are per process, so they are taken from rank 0 whenever they matter.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> Dist:
    """Join the process group torchrun describes in the environment, or run alone."""
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world <= 1:
        return Dist(device=dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank, dev)


def teardown(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(d: Dist, module: torch.nn.Module, buffers_only: bool = False) -> None:
    if d.world <= 1:
        return
    tensors = list(module.buffers()) + ([] if buffers_only else list(module.parameters()))
    for t in tensors:
        dist.broadcast(t.data, src=0)


def average_gradients(d: Dist, params: list[torch.nn.Parameter]) -> None:
    """Average .grad across processes in one flat all-reduce."""
    if d.world <= 1:
        return
    params = [p for p in params if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.flatten() for g in grads]).div_(d.world)
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def average_scalars(d: Dist, values: torch.Tensor) -> torch.Tensor:
    if d.world > 1:
        values = values.clone()
        dist.all_reduce(values)
        values /= d.world
    return values


def any_process(d: Dist, flag: bool) -> bool:
    """True if `flag` is set on any process: so all of them stop at the same step."""
    if d.world <= 1:
        return flag
    t = torch.tensor([float(flag)], device=d.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()
