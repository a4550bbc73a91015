"""Static model size metrics, as NeuroBench defines them: the parameter count
(:func:`count_parameters`) and the memory footprint of parameters and buffers
(:func:`footprint_bytes`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

def _check_module(model: Any, fn: str) -> torch.nn.Module:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{fn}: expected a torch.nn.Module, got {type(model).__name__}")
    return model


def count_parameters(model: torch.nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (elements) of ``model``, as NeuroBench's ``ParameterCount``.

    Shared parameters count once (``model.parameters()`` deduplicates them); buffers (e.g.
    batch-norm running statistics) are not parameters and do not count.

    Args:
        model: a ``torch.nn.Module``.
        trainable_only: count only parameters with ``requires_grad``.

    Returns:
        The number of scalar parameters.

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.

    Example:
        >>> import torch
        >>> count_parameters(torch.nn.Linear(20, 20))  # 400 weights + 20 biases
        420
    """
    m = _check_module(model, "count_parameters")
    return int(sum(p.numel() for p in m.parameters() if p.requires_grad or not trainable_only))


def footprint_bytes(model: torch.nn.Module) -> int:
    """Memory footprint of ``model``: bytes of all parameters plus all buffers.

    .. math:: \\sum_{p \\in params} numel(p) \\cdot element\\_size(p)
        + \\sum_{b \\in buffers} numel(b) \\cdot element\\_size(b)

    as NeuroBench's ``Footprint`` (neurobench 2.3.0 ``metrics/static/footprint.py``). Buffers
    include batch-norm running mean/var and ``num_batches_tracked`` (int64) and any neuron state
    a framework registers as a buffer. Shared tensors count once.

    Args:
        model: a ``torch.nn.Module``.

    Returns:
        Size in bytes.

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.

    Example:
        >>> import torch
        >>> footprint_bytes(torch.nn.Linear(20, 20))  # 420 float32 parameters * 4 bytes
        1680
    """
    m = _check_module(model, "footprint_bytes")
    params = sum(p.numel() * p.element_size() for p in m.parameters())
    buffers = sum(b.numel() * b.element_size() for b in m.buffers())
    return int(params + buffers)
