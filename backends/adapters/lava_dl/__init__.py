"""lava-dl SLAYER adapter: compiles the architecture specs into SLAYER blocks with CUBA neurons.

The layout conversion, the compiled layers, the neuron mapping (:func:`cuba_mapping`: fixed
point, threshold, decays), the surrogate gradient, the CUDA extension and the import workaround
are described, with their lava-dl 0.6.0 sources, in ``docs/backends.md`` ("The lava-dl
adapter"). One module per concern:

* :mod:`~backends.adapters.lava_dl.slayer`: SLAYER's constants and its import (without
  torchvision and OpenCV);
* :mod:`~backends.adapters.lava_dl.neurons`: the CUBA neuron mapping, the weight pre-hook and
  the build options;
* :mod:`~backends.adapters.lava_dl.models`: the compiled networks (ConvNet, SEW-ResNet);
* :mod:`~backends.adapters.lava_dl.build`: building a spec, canonical weights, HDF5 export;
* :mod:`~backends.adapters.lava_dl.forward`: the forward pass with activity and spikes;
* :mod:`~backends.adapters.lava_dl.backend`: the registered ``lava-dl`` backend.
"""

from __future__ import annotations

from backends.adapters.lava_dl.backend import (
    BACKEND,
    LavaDLBackend,
)
from backends.adapters.lava_dl.build import (
    SEEN_UNSUPPORTED,
    build_model,
    canonical_state,
    export_hdf5,
    load_canonical_state,
)
from backends.adapters.lava_dl.forward import (
    forward_with_spikes,
)
from backends.adapters.lava_dl.models import (
    LavaDLNet,
    SEWBasicBlock,
    SlayerConvNet,
    SlayerSEWResNet,
)
from backends.adapters.lava_dl.neurons import (
    LOIHI2_OPTIONS,
    CubaMapping,
    FloatWeights,
    LavaDLOptions,
    cuba_mapping,
    cuba_neuron,
)
from backends.adapters.lava_dl.slayer import (
    LAVA_DL_DIST,
    SCALE_RHO_MULT,
    SLAYER_P_SCALE,
    SLAYER_S_SCALE,
    SLAYER_W_SCALE,
    TAU_RHO_MULT,
    cuda_arch_list,
    import_slayer,
)

__all__ = [
    "LAVA_DL_DIST",
    "SCALE_RHO_MULT",
    "SLAYER_P_SCALE",
    "SLAYER_S_SCALE",
    "SLAYER_W_SCALE",
    "TAU_RHO_MULT",
    "cuda_arch_list",
    "import_slayer",
    "CubaMapping",
    "FloatWeights",
    "LOIHI2_OPTIONS",
    "LavaDLOptions",
    "cuba_mapping",
    "cuba_neuron",
    "LavaDLNet",
    "SEWBasicBlock",
    "SlayerConvNet",
    "SlayerSEWResNet",
    "SEEN_UNSUPPORTED",
    "build_model",
    "canonical_state",
    "export_hdf5",
    "load_canonical_state",
    "forward_with_spikes",
    "BACKEND",
    "LavaDLBackend",
]
