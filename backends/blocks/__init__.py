"""Torch building blocks of the suite's own models, shared by every torch-based backend (the ANN,
snntorch, spikingjelly, sinabs, norse and lava-dl adapters), the native-model wrapper, the NIR
exchange and the membrane replay.

Where things are:

* :mod:`backends.blocks.neurons`: the surrogate spike functions (``SurrogateSpike`` and the
  autograd functions it picks), ``check_neuron`` and ``canonical_neuron_reference``;
* :mod:`backends.blocks.plans`: the ``build`` argument checks, the shape plans (``convnet_plan``,
  ``resnet_plan``) and the layer-name scheme (``arch_layer_names``);
* :mod:`backends.blocks.activations`: the ``TimeActivation`` protocol that the adapters'
  ``make_act(name)`` factories follow, ``ReLUAct``, and the time-major and activity-recording
  helpers;
* :mod:`backends.blocks.convnet`, :mod:`backends.blocks.resnet`, :mod:`backends.blocks.seen`: the
  compiled models, generic in their activation (ReLU for the ANN, a framework's neuron for an SNN);
* :mod:`backends.blocks.build`: ``build_model``, spec -> model;
* :mod:`backends.blocks.forward`: ``run_forward``, the ``Backend.forward`` shared by these
  models, and the readout.

Compiled-model contract (:class:`~backends.blocks.convnet.PerStepConvNet`,
:class:`~backends.blocks.resnet.ResNet`, :class:`~backends.blocks.seen.SEENNet`)::

    model(x, recorder=None, capture=None) -> I_out
                                            x: (B, T, 2, H, W) float32 (binned events)
                                            I_out: (B, T', K) readout input current per step
                                            capture: a dict that receives "features", the
                                            readout's input (T'*B, F), time-major
    model.apply_readout(f) -> (B, K)        the readout applied to features f (B, F)
    model.time_folded   True when the T frames are folded into 2T channels (T' = 1)
    model.input_shape   (T, 2, H, W) it was built for;  model.num_classes  K;  model.arch  the spec

Internally the stateless layers (conv, batch norm, pooling, linear) run once on the time-major
flattened tensor ``(T*B, ...)``; only the neurons loop over time (see
:class:`~backends.blocks.activations.TimeActivation`). Batch norm therefore normalises over batch
and time together, as spikingjelly's multi-step mode (``functional.seq_to_ann_forward``) does in
the Spiking-FER reference.
"""
