"""Train once, run anywhere: NIR export and import, and weight transfer between backends.

NIR (the Neuromorphic Intermediate Representation, Pedersen et al., "Neuromorphic intermediate
representation: A unified instruction set for interoperable brain-inspired computing", Nature
Communications 15, 8122, 2024; package ``nir`` 1.0.8, ``nirtorch`` 2.6) describes a spiking
network as a graph of continuous-time nodes. This module writes the suite's trained models as
``.nir`` files and compiles ``.nir`` files into the suite's backends.

**Canonical state.** Every backend's model can give its weights keyed by spec layer name
(:func:`canonical_state`: ``{layer}.weight`` in PyTorch's layouts, conv ``(O, C, kh, kw)``,
linear ``(O, F)``, and ``{layer}.bn.*`` for batch norm), the keys of
:func:`backends.adapters.lava_dl.build.canonical_state`; :func:`load_canonical_state` loads them into any
backend's compiled model. :func:`transfer` moves a trained model from backend A to backend B
through it or through a NIR file.

**Neuron mapping** (NIR's LIF, ``nir/ir/neuron.py``: ``tau dv/dt = (v_leak - v) + r I``, spike
``z = v > v_threshold``, then ``v = v_reset``). Discretised with forward Euler at the time step
``dt`` (seconds per time bin; the convention of snntorch's writer and reader, which fix
``dt = 1e-4``, and of spikingjelly's ``nir_exchange``, default ``1e-4``)::

    v[t] = (1 - dt / tau) v[t-1] + (r dt / tau) I[t]

which is the canonical neuron of :mod:`backends.specs` (``v[t] = beta v[t-1]' + I[t]``) for

    tau = dt / (1 - beta),   r = tau / dt = 1 / (1 - beta),   v_leak = 0,   v_reset = 0,
    v_threshold = threshold

(tiny_nir, beta 0.5, dt 1e-4 s: tau = 2e-4 s, r = 2). IF (``dv/dt = r I``): ``r = 1 / dt``
(spikingjelly's writer; snntorch's and norse's readers expect ``r = 1``, read as a gain of 1 per
step, and :func:`spec_from_graph` accepts both). NIR fires on ``v > thr``, the canonical neuron on
``v >= thr``: a framework reader that follows NIR (snntorch's) differs from the written model
only where ``v == thr`` exactly (the ``"exact_except_ties"`` class of :mod:`backends.equality`);
the suite's reader reads the graph back into the canonical neuron, so a round trip through it is
exact (the importing backend's own class with the canonical neuron). NIR has no subtractive
reset, no batch norm and no max pooling: specs with them are refused
(:func:`nir_unsupported_reason`).
Every graph written here states ``dt`` and the suite's own description (architecture, neuron,
``n_time_bins``, classes, binner, versions) as JSON in ``metadata["neurofer_bench"]``, since
NIR 1.0.8 has no field for the time step, the number of steps or the readout (logits = mean over
time of the output node's value).

**Writers** (:data:`WRITERS`): the framework's own where it writes the model faithfully
(snntorch ``export_to_nir``, spikingjelly ``nir_exchange.export_to_nir``), else the suite's
(:func:`graph_from_state`, from the canonical state); why norse's, sinabs' and lava-dl's are not
used by default is in :data:`FRAMEWORK_WRITER_NOTES`. **Readers**: the suite's
(:func:`spec_from_graph`: recover the spec and weights, ``backend.build`` + load; the model then
runs through ``backend.forward`` with the backend's own activity accounting) for every backend,
or the framework's own (:class:`FrameworkNIRModel`: snntorch ``import_from_nir``, spikingjelly
``import_from_nir``, norse ``from_nir``, sinabs ``from_nir``), which read the same file with their
own conventions; :data:`FRAMEWORK_READER_NOTES` lists where they differ.

lava-dl 0.6.0 has no NIR reader or writer; its models export through the canonical state and
its own HDF5 network format (:func:`export_lava_hdf5`, :func:`backends.adapters.lava_dl.build.export_hdf5`).
"""

from backends.nir_exchange.common import (  # noqa: F401
    METADATA_FORMAT,
    METADATA_KEY,
    METADATA_VERSION,
    NIR_DT,
    NODE_UNSUPPORTED,
    SUITE_NODES,
    NIRError,
    NIRExportError,
    NIRImportError,
    NIRVersionError,
    UnsupportedNodeError,
    _close,
    _dist_version,
    _import_nir,
    _is_lava,
    _neuron_node,
    _uniform,
    canonical_state,
    check_exportable,
    load_canonical_state,
    neuron_from_nir,
    neuron_to_nir,
    nir_arch_names,
    nir_unsupported_reason,
    nir_versions,
)
from backends.nir_exchange.export import (  # noqa: F401
    ModelSource,
    export_lava_hdf5,
    export_nir,
    import_lava_hdf5,
    resolve_source,
)
from backends.nir_exchange.importer import (  # noqa: F401
    FRAMEWORK_READER_NOTES,
    READERS,
    FrameworkNIRModel,
    NIRReaderBackend,
    _frameworks_for_backend,
    _neuron_types,
    _reader_layout,
    import_nir,
)
from backends.nir_exchange.reading import (  # noqa: F401
    ChainLayer,
    RecoveredModel,
    _chain,
    _known_nir_types,
    _pair,
    _registered_twin,
    check_nir_version,
    graph_metadata,
    read_nir,
    scan_nir_file,
    spec_from_graph,
)
from backends.nir_exchange.transfer import (  # noqa: F401
    VIAS,
    reader_equality,
    spike_agreement_by_layer,
    spikes_by_layer,
    transfer,
)
from backends.nir_exchange.writers import (  # noqa: F401
    _AUTO_FRAMEWORK_WRITERS,
    _FRAMEWORK_WRITERS,
    FRAMEWORK_WRITER_NOTES,
    SINABS_CONVENTION,
    WRITERS,
    _forget_snntorch_instances,
    _native_convs,
    _native_linear,
    _plans,
    _quiet,
    _resolve_writer,
    _sequential,
    _suite_metadata,
    _write_norse,
    _write_sinabs,
    _write_snntorch,
    _write_spikingjelly,
    build_graph,
    graph_from_state,
)
